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
    # The app list lives on the dashboard; a 300 px side bar on every page would leave a
    # 1,280 px screen too narrow for the delivery log's columns.
    enable_nav_sidebar = False

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        return super().index(request, {"dashboard": dashboard.figures(), **(extra_context or {})})
