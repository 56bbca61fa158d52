from django.apps import AppConfig


class CallnotifyConfig(AppConfig):
    name = "callnotify"
    verbose_name = "Call notify"
