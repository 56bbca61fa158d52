from django.apps import AppConfig


class SbcrulesConfig(AppConfig):
    name = "sbcrules"
    verbose_name = "SBC routing"
