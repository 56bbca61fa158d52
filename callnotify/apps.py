from django.apps import AppConfig


class CallnotifyConfig(AppConfig):
    name = "callnotify"
    verbose_name = "Call notify"

    def ready(self) -> None:
        from callnotify import endpoint_health  # noqa: F401  (connects its receiver: an endpoint set ACTIVE starts afresh)

        from callnotify.models import Attempt, CallNotify, Delivery
        from callnotify.validators import PROTOCOLS
        from core import metrics

        # Every series from the start, at 0 (bounded: 4 outcomes x 6 formats x 4 transports).
        for outcome in Attempt.Outcome.values:
            for method in CallNotify.Method.values:
                for protocol in PROTOCOLS:
                    metrics.DELIVERY_ATTEMPTS.labels(outcome, method, protocol)
        for state in (Delivery.State.DELIVERED, Delivery.State.FAILED):
            metrics.DELIVERIES_FINISHED.labels(state)
