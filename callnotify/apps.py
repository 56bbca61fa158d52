from django.apps import AppConfig


class CallnotifyConfig(AppConfig):
    name = "callnotify"
    verbose_name = "Call notify"

    def ready(self) -> None:
        from callnotify import endpoint_health  # noqa: F401  (connects its receiver: an endpoint set ACTIVE starts afresh)
