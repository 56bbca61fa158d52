from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The bottom layer: what every app uses (the API's style, errors, serializers, ids, paging,
    throttling, the per-minute counters) and what the whole project registers once."""

    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        import core.checks  # noqa: F401  (registers the deploy checks)
        import core.schema  # noqa: F401  (registers the bearer auth scheme with drf-spectacular)
