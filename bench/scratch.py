"""The in-process benchmarks' database: a fresh SQLite file in a temporary directory, or
`--database-url` (a scratch database that the benchmark may empty and fill), migrated."""

from __future__ import annotations

import os
import tempfile


def setup(database_url: str | None) -> None:
    scratch = tempfile.mkdtemp(prefix="telecomx-bench-")
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{scratch}/bench.sqlite3"
    os.environ.setdefault("TELECOMX_DATA_DIR", scratch)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telecomx.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def fan_out(customer_id: str) -> int:
    """Deliveries of all the customer's events to all its endpoints, PENDING, as ingestion stores
    them, in one statement (a backlog of 100,000 through the API would take minutes)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO callnotify_delivery (id, event_id, endpoint_id, call_id, sequence, state, attempts,"
            " next_attempt_at, created_at, last_error) SELECT substr(md5(e.id || c.id), 1, 24), e.id, c.id, e.call_id,"
            " e.sequence, 'PENDING', 0, e.created_at, e.created_at, '' FROM callnotify_callevent e"
            " JOIN callnotify_callnotify c ON c.customer_id = e.customer_id WHERE e.customer_id = %s", [customer_id])
        return cursor.rowcount
