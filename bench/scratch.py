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
