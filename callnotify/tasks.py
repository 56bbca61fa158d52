"""Celery tasks: thin carriers of delivery.py and sweep.py (the engine decides; tasks carry hints)."""

from __future__ import annotations

from celery import shared_task
from celery.signals import task_prerun, worker_process_shutdown
from django.conf import settings
from django.db import close_old_connections, connection

from callnotify import delivery, hints, sweep


@shared_task(name=hints.DELIVER, acks_late=True, reject_on_worker_lost=True)
def deliver() -> int:
    """Claim, send and record one batch; while there was work, ask for the next batch."""
    done = delivery.run(limit=settings.CALLNOTIFY_BATCH_SIZE, wait_seconds=settings.CALLNOTIFY_BATCH_WAIT)
    if done:
        hints.wake(coalesce=False)
    return len(done)


@shared_task(name="callnotify.attempt", acks_late=True)
def attempt(delivery_id: str = "") -> int:
    """A hint published by an earlier release (one message per delivery): now a batch like any other."""
    return deliver()


@shared_task(name=sweep.SWEEP, acks_late=True)
def sweep_overdue() -> int:
    """Hints for deliveries that are overdue: their message was lost, or their worker died."""
    return sweep.sweep()


@task_prerun.connect
def _usable_connection(task: object = None, **kwargs: object) -> None:
    """The kept database connection (settings.CELERY_DB_REUSE_MAX), checked as Django checks it
    around a request: closed past CONN_MAX_AGE or after an error, and closed when it no longer
    answers (the database restarted since the last task), so the task opens a new one. Not for a
    task run eagerly, in its caller's process (and perhaps its transaction), as Celery's own
    Django fix-up leaves those alone too."""
    if getattr(getattr(task, "request", None), "is_eager", False):
        return
    close_old_connections()
    if connection.connection is not None and not connection.is_usable():
        connection.close()


@worker_process_shutdown.connect
def _record_what_is_in_flight(**kwargs: object) -> None:
    """A pool process stopping cleanly first records the slow attempts it still carries."""
    delivery.wait_idle(settings.CALLNOTIFY_REQUEST_TIMEOUT + 5)
