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
