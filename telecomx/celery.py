"""The Celery app: `celery -A telecomx worker` carries out call event deliveries (docs/callevents.md §6).

Each worker also asks for a sweep every CALLNOTIFY_SWEEP_SECONDS, so a worker alone (no beat)
re-queues deliveries whose message was lost. Several workers sweeping is harmless: the sweep
only queues messages, and the database lease decides who attempts.
"""

from __future__ import annotations

import logging
import os

from celery import Celery, bootsteps, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telecomx.settings")

from telecomx.startup import make_data_dirs  # noqa: E402

logger = logging.getLogger("telecomx.celery")

app = Celery("telecomx")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _request_sweep() -> None:
    try:
        app.send_task("callnotify.sweep")
    except Exception:  # noqa: BLE001 - broker down; the next tick tries again
        logger.warning("could not queue a sweep", exc_info=True)


class SweepStep(bootsteps.StartStopStep):
    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker: object, **kwargs: object) -> None:
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker: object) -> None:
        from django.conf import settings

        interval = settings.CALLNOTIFY_SWEEP_SECONDS
        if interval > 0:
            _request_sweep()  # at start-up too: this worker may replace one that died
            self.tref = worker.timer.call_repeatedly(interval, _request_sweep, priority=10)  # type: ignore[attr-defined]

    def stop(self, worker: object) -> None:
        if self.tref is not None:
            self.tref.cancel()


app.steps["worker"].add(SweepStep)


@signals.worker_init.connect
def _make_data_dirs(**kwargs: object) -> None:
    make_data_dirs()  # the settings' folders, made by the process (not by importing the settings)
