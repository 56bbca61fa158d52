"""Admin for peers (hosts inline), rules, trunks, DK operators, number data, and a "test a route" page.

The forms run the models' own checks, so the admin refuses what the API refuses, with the same
messages; the routing marker changes through the models' signals (sbcrules.index), as for the API.
"""

from __future__ import annotations

from typing import Any

import csv
import io

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from core.messages import DocumentedForm
from sbcrules.importing import export_rules, preview_rules, rule_importer
from sbcrules.index import mark_routing_changed
from sbcrules.lookup import route_call
from sbcrules.models import DkOperator, Host, NumberRange, Peer, PortedNumber, Rule, Trunk
from sbcrules.trunks import SOURCE_INVALID, SOURCE_TAKEN, delete_trunk, normalize_sources, parse_source, save_trunk, taken_by_others


class HostInline(admin.TabularInline):
    model = Host
    extra = 1
    fields = ["address", "port", "transport", "down"]


@admin.register(Peer)
class PeerAdmin(admin.ModelAdmin):
    inlines = [HostInline]
    list_display = ["id", "name", "default", "usable", "up", "failover_peer", "network_interface", "host_states"]
    list_filter = ["default", "up"]
    search_fields = ["id", "name"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("hosts")

    def get_readonly_fields(self, request: HttpRequest, obj: Peer | None = None) -> list[str]:
        return ["id"] if obj else []  # its name in rules: never changes

    @admin.display(description="usable", boolean=True)
    def usable(self, peer: Peer) -> bool:
        """As routing judges it (docs/api.md §9): up, and at least one host not down."""
        return peer.up and any(not host.down for host in peer.hosts.all())

    @admin.display(description="hosts")
    def host_states(self, peer: Peer) -> str:
        return ", ".join(str(host) for host in peer.hosts.all()) or "none"


class SourcesField(forms.CharField):
    """Sources as text: one per line (or separated by spaces or commas), as a list for the model."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 40})

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value) or ""
        return normalize_sources(text.replace(",", " ").split())


class TrunkForm(DocumentedForm):
    sources = SourcesField(help_text="IPv4/IPv6 addresses or CIDR blocks the calls come from, one per line (1..100); "
                           "no address may be in two trunks.")

    class Meta:
        model = Trunk
        fields = ["customer", "name", "sources", "max_calls", "calls_per_second", "trust_customer_header", "state"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        sources = data.get("sources")
        if sources and "sources" not in self.errors:
            # The admin saves in the transaction it validates in: take the trunks' lock now, so
            # the check below still holds when the trunk is saved (sbcrules.trunks).
            mark_routing_changed()
            try:
                networks = [parse_source(source) for source in sources]
            except ValueError:
                self.add_error("sources", SOURCE_INVALID)
            else:
                if taken_by_others(self.instance, networks):
                    self.add_error("sources", SOURCE_TAKEN)
        return data


@admin.register(Trunk)
class TrunkAdmin(admin.ModelAdmin):
    """Where customers' calls come from (docs/sbcrules.md, "Trunks"): written through save_trunk, so
    the admin claims sources under the same lock as the API and importtrunks."""

    form = TrunkForm
    list_display = ["name", "customer", "source_list", "max_calls", "calls_per_second", "trust_customer_header", "state"]
    list_filter = ["state", "trust_customer_header"]
    search_fields = ["name", "customer__name", "customer__id", "sources"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]

    @admin.display(description="sources")
    def source_list(self, trunk: Trunk) -> str:
        return ", ".join(trunk.sources)

    def save_model(self, request: HttpRequest, obj: Trunk, form: Any, change: bool) -> None:
        save_trunk(obj)

    def delete_model(self, request: HttpRequest, obj: Trunk) -> None:
        delete_trunk(obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        with transaction.atomic():
            mark_routing_changed()
            queryset.delete()


class RouteTestForm(forms.Form):
    bnumber = forms.CharField(label="Destination (B-number)", help_text="E.164, e.g. +4570305050")
    anumber = forms.CharField(label="Caller (A-number)", required=False)
    customer = forms.CharField(label="Customer id", required=False)


TOO_BIG_FOR_THE_ADMIN = "File too large: at most 1 MB here (API_MAX_BODY_BYTES); import bigger files with manage.py importrules"
MULTIPART_ALLOWANCE = 16 * 1024  # the form's own fields and boundaries around the file


def _body_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class RuleImportForm(forms.Form):
    file = forms.FileField(label="Rules CSV", help_text="type,condition,peer,note (header required), UTF-8; the format exportrules writes")


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
        wrap = self.admin_site.admin_view
        return [path("route/", wrap(self.route_test_view), name="sbcrules_route_test"),
                path("import/", wrap(self.import_view), name="sbcrules_rule_import"),
                path("export/", wrap(self.export_view), name="sbcrules_rule_export"), *super().get_urls()]

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """Every rule as CSV, written by the code `manage.py exportrules` uses."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="rules.csv"'
        export_rules(response)
        return response

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Upload → preview (what changes, every bad line) → confirm; all or nothing, by the code
        `manage.py importrules` uses. The confirmed text is imported again from scratch, so a change
        made meanwhile is judged by the same rules."""
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "title": "Import rules", "opts": self.model._meta}
        form = RuleImportForm()
        if request.method == "POST" and "text" in request.POST:
            text = request.POST["text"]
            preview = preview_rules(text)
            if not preview.result.bad_lines:
                result = rule_importer().run(io.StringIO(text, newline=""), report=lambda message: None)
                if not result.bad_lines:
                    messages.success(request, f"imported {result.stored} rules from {result.lines} lines "
                                              f"({len(preview.added)} new, {len(preview.changed)} changed)")
                    return redirect("admin:sbcrules_rule_changelist")
            context.update(preview=preview, text=text)
        elif request.method == "POST" and _body_length(request) > settings.API_MAX_BODY_BYTES + MULTIPART_ALLOWANCE:
            # Refused from its Content-Length, before Django reads the upload.
            form.errors["file"] = form.error_class([TOO_BIG_FOR_THE_ADMIN])
        elif request.method == "POST":
            form = RuleImportForm(request.POST, request.FILES)
            if form.is_valid() and form.cleaned_data["file"].size > settings.API_MAX_BODY_BYTES:
                form.add_error("file", TOO_BIG_FOR_THE_ADMIN)
            if form.is_valid():
                try:
                    text = form.cleaned_data["file"].read().decode("utf-8-sig")
                    context.update(preview=preview_rules(text), text=text)
                except (UnicodeDecodeError, csv.Error) as exc:
                    form.add_error("file", f"not a UTF-8 CSV file ({exc}); nothing was imported")
        context["form"] = form
        return TemplateResponse(request, "admin/sbcrules/rule_import.html", context)

    def route_test_view(self, request: HttpRequest) -> HttpResponse:
        """The decision the look-up API gives for a number typed in, with why."""
        form = RouteTestForm(request.GET or None)
        decision = None
        if form.is_valid():
            try:
                decision = route_call(**{k: v or None for k, v in form.cleaned_data.items()}, explain=True)
            except ValidationError as exc:
                form.add_error(None, exc)  # each message on its field
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
