"""The Celery app: `celery -A telecomx worker` carries out call event deliveries (docs/callevents.md §6).

Each worker also runs the apps' worker steps: callnotify's sweep (callnotify/sweep.py).
"""

from __future__ import annotations

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telecomx.settings")

from telecomx.startup import make_data_dirs  # noqa: E402

app = Celery("telecomx")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.steps["worker"].add("callnotify.sweep.SweepStep")  # loaded by the worker, once Django is set up


@signals.setup_logging.connect
def _logging(**kwargs: object) -> None:
    """The project's log format (settings.LOGGING, core/logs.py) instead of Celery's own."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@signals.worker_init.connect
def _make_data_dirs(**kwargs: object) -> None:
    make_data_dirs()  # the settings' folders, made by the process (not by importing the settings)
