"""django.contrib.admin with our site (the dashboard as its index); INSTALLED_APPS names this class."""

from django.contrib.admin.apps import AdminConfig


class ConsoleAdminConfig(AdminConfig):
    default_site = "console.site.ConsoleSite"
