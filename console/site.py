"""The admin site of the back office: Django's admin, branded, with the dashboard as its index."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse

from console import dashboard


class ConsoleSite(admin.AdminSite):
    site_header = "Telecom X back office"
    site_title = "Telecom X back office"
    index_title = "Dashboard"
    index_template = "admin/console/dashboard.html"

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        return super().index(request, {"dashboard": dashboard.figures(), **(extra_context or {})})
