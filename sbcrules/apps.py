from django.apps import AppConfig


class SbcrulesConfig(AppConfig):
    name = "sbcrules"
    verbose_name = "SBC routing"

    def ready(self) -> None:
        from sbcrules.index import connect_signals  # the models are loaded only now

        connect_signals()
