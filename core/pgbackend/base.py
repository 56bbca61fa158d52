"""PostgreSQL as Django's own backend, with the database breaker (core.outage) in front of connecting:
while the breaker is open a new connection is refused at once instead of waiting for a connect
timeout, and a failure to connect opens it. settings.py puts this engine in place of
`django.db.backends.postgresql` (DATABASE_URL names PostgreSQL as usual)."""

from __future__ import annotations

from typing import Any

import psycopg
from django.db.backends.postgresql import base

from core import outage


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        if outage.database.is_open():
            raise psycopg.OperationalError("database unreachable a moment ago; not retried until the breaker closes")
        try:
            connection = super().get_new_connection(conn_params)
        except psycopg.OperationalError:
            outage.database.trip()
            raise
        outage.database.close()
        return connection
