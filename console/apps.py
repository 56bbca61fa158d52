from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operator's console: the admin's dashboard index, its plots, and admin page helpers."""

    name = "console"
    default = True
