"""Admin list filters that scale: choose the related object by typing (the admin's own autocomplete)
instead of a list of every value, which on a table of millions is one DISTINCT scan per page view."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import reverse

from core.ids import normalize_id


class AutocompleteFilter(admin.SimpleListFilter):
    """Subclasses set title, parameter_name (the lookup applied, e.g. `endpoint__id__exact`),
    `model` (the related model, whose admin has search_fields) and `source` (app label, model
    name, field name of a foreign key to `model`: what the autocomplete view searches through)."""

    template = "admin/core/autocomplete_filter.html"
    model: type[Model]
    source: tuple[str, str, str]

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> tuple:
        return ()

    def has_output(self) -> bool:
        return True

    def value(self) -> str | None:
        value = super().value()
        return normalize_id(value) or "-" if value else None  # ids only: "-" matches nothing

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(**{self.parameter_name: value}) if value else queryset

    def choices(self, changelist: Any) -> Any:
        value = self.value()
        selected = self.model._default_manager.filter(pk=value).first() if value else None
        yield {
            "parameter": self.parameter_name,
            "value": value or "",
            "label": str(selected) if selected else (value or ""),
            "url": reverse("admin:autocomplete"),
            "app_label": self.source[0], "model_name": self.source[1], "field_name": self.source[2],
            "reset": changelist.get_query_string(remove=[self.parameter_name, "p"]),
        }


# What a changelist with autocomplete filters needs loaded (the admin's own jQuery and select2).
AUTOCOMPLETE_MEDIA = forms.Media(
    js=["admin/js/vendor/jquery/jquery.min.js", "admin/js/vendor/select2/select2.full.min.js", "admin/js/jquery.init.js",
        "admin/js/autocomplete.js", "core/autocomplete_filter.js"],
    css={"screen": ["admin/css/vendor/select2/select2.min.css", "admin/css/autocomplete.css"]},
)
