"""Admin for peers (hosts inline), rules, DK operators, number data, and a "test a route" page.

The forms run the models' own checks, so the admin refuses what the API refuses, with the same
messages; the routing marker changes through the models' signals, as for the API.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from rest_framework.exceptions import ValidationError

from sbcrules.lookup import route_call
from sbcrules.models import DkOperator, Host, NumberRange, Peer, PortedNumber, Rule


class HostInline(admin.TabularInline):
    model = Host
    extra = 1
    fields = ["address", "port", "transport", "down"]


@admin.register(Peer)
class PeerAdmin(admin.ModelAdmin):
    inlines = [HostInline]
    list_display = ["id", "name", "default", "up", "failover_peer", "network_interface", "host_states"]
    list_filter = ["default", "up"]
    search_fields = ["id", "name"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("hosts")

    def get_readonly_fields(self, request: HttpRequest, obj: Peer | None = None) -> list[str]:
        return ["id"] if obj else []  # its name in rules: never changes

    @admin.display(description="hosts")
    def host_states(self, peer: Peer) -> str:
        return ", ".join(str(host) for host in peer.hosts.all()) or "none"


class RouteTestForm(forms.Form):
    bnumber = forms.CharField(label="Destination (B-number)", help_text="E.164, e.g. +4570305050")
    anumber = forms.CharField(label="Caller (A-number)", required=False)
    customer = forms.CharField(label="Customer id", required=False)


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "condition", "peer", "note"]
    list_filter = ["type", "peer"]
    search_fields = ["condition"]
    list_select_related = ["peer"]
    fields = ["type", "condition", "peer", "note"]

    def get_readonly_fields(self, request: HttpRequest, obj: Rule | None = None) -> list[str]:
        return ["type"] if obj else []  # docs/api.md §6: the type cannot change

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.route_test_view)
        return [path("route/", view, name="sbcrules_route_test"), *super().get_urls()]

    def route_test_view(self, request: HttpRequest) -> HttpResponse:
        """The decision the look-up API gives for a number typed in, with why."""
        form = RouteTestForm(request.GET or None)
        decision = None
        if form.is_valid():
            try:
                decision = route_call(**{k: v or None for k, v in form.cleaned_data.items()}, explain=True)
            except ValidationError as exc:
                for field, messages in exc.detail.items():  # type: ignore[union-attr]
                    form.add_error(field, [str(m) for m in messages])
        context = {
            **self.admin_site.each_context(request), "title": "Test a route", "form": form, "decision": decision,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/sbcrules/route_test.html", context)


@admin.register(DkOperator)
class DkOperatorAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "address"]
    search_fields = ["id", "name"]

    def get_readonly_fields(self, request: HttpRequest, obj: DkOperator | None = None) -> list[str]:
        return ["id"] if obj else []


class NumberDataAdmin(admin.ModelAdmin):
    """Millions of rows: exact search on the key, no full count, operators chosen by code."""

    list_display = ["__str__", "operator"]
    list_select_related = ["operator"]
    autocomplete_fields = ["operator"]
    show_full_result_count = False
    list_per_page = 50

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> tuple[Any, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        key = self.model._meta.pk.name
        return queryset.filter(**{f"{key}__startswith": term if term.startswith("+") else "+45" + term}), False


@admin.register(PortedNumber)
class PortedNumberAdmin(NumberDataAdmin):
    search_fields = ["number"]


@admin.register(NumberRange)
class NumberRangeAdmin(NumberDataAdmin):
    search_fields = ["prefix"]
