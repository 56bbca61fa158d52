"""What a process of this project makes before it starts: the folders its settings name.

Run by manage.py, the WSGI app and the Celery worker, never by importing the settings.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


def make_data_dirs() -> None:
    """The SQLite database's folder (when SQLite is used) and STATIC_ROOT (whitenoise reads it)."""
    database = settings.DATABASES["default"]
    name = str(database.get("NAME") or "")
    if database["ENGINE"] == "django.db.backends.sqlite3" and name and not name.startswith((":memory:", "file:")):
        Path(name).parent.mkdir(parents=True, exist_ok=True)
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


def warm_up() -> None:
    """Load what a route look-up needs before a web worker takes its first connection (gunicorn's
    post_worker_init): the URL map with every view module, and the routing index. A worker started
    by a reload (HUP) or in place of a dead one then answers its first look-ups as fast as the
    others, instead of making the switches wait while it loads. The database away: the first
    look-up loads the index instead (and answers 503 until it can)."""
    import logging

    from django.urls import resolve

    from sbcrules.index import routing_index

    resolve("/api/sbc/route")
    try:
        routing_index.current()
    except Exception:  # noqa: BLE001 - a worker must start even while the database is away
        logging.getLogger("telecomx.startup").warning("routing index not loaded at start", exc_info=True)
