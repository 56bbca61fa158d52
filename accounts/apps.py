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
            raw = connection.connection
            # The triggers' NOTICE: this thread changed a credential. Once per connection (a pool's
            # connection is "created" again at each checkout).
            if connection.vendor == "postgresql" and not getattr(raw, "_telecomx_noticed", False):
                raw.add_notice_handler(revocations.noticed)
                raw._telecomx_noticed = True

        connection_created.connect(told, weak=False, dispatch_uid="accounts.revocations")
        atexit.register(revocations.settle_if_changed)  # a command that changed one ends once every process applied it
