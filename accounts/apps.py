import atexit
from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts import revocations

        def told(sender: Any, connection: Any, **kwargs: Any) -> None:
            if connection.vendor == "postgresql":  # the triggers' NOTICE: this thread changed a credential
                connection.connection.add_notice_handler(revocations.noticed)

        connection_created.connect(told, weak=False, dispatch_uid="accounts.revocations")
        atexit.register(revocations.settle_if_changed)  # a command that changed one ends once every process applied it
