from django.apps import AppConfig


class SbcrulesConfig(AppConfig):
    name = "sbcrules"
    verbose_name = "SBC routing"

    def ready(self) -> None:
        from sbcrules.index import connect_signals  # the models are loaded only now

        connect_signals()

        from core import metrics
        from sbcrules.serializers import REASONS

        for reason in REASONS:  # every series from the start, at 0: rate() and alerts see the first look-up
            metrics.ROUTE_LOOKUPS.labels(reason)
