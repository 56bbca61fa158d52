from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        import telecomx.checks  # noqa: F401  (registers the deploy checks)
        import telecomx.schema  # noqa: F401  (registers the bearer auth scheme with drf-spectacular)
