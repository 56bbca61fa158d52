"""Telling the delivery side that work may be due: a leaf module that imports nothing of the engine.

With a broker, a hint is a `callnotify.deliver` Celery message, published by name (tasks.py
consumes it); without one, the in-process runner registers a callback here and is woken.
Hints are never required for correctness (delivery.py): failing to publish one is logged,
never raised into the request that stored the event, because the sweep finds the work anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.conf import settings

from telecomx.celery import app

logger = logging.getLogger("callnotify.dispatch")
DELIVER = "callnotify.deliver"

_wakers: list[Callable[[], None]] = []


def uses_celery() -> bool:
    return bool(settings.CELERY_BROKER_URL)


def on_wake(callback: Callable[[], None]) -> None:
    """The in-process runner asks to be woken (instead of a message) when work may be due."""
    if callback not in _wakers:
        _wakers.append(callback)


def off_wake(callback: Callable[[], None]) -> None:
    if callback in _wakers:
        _wakers.remove(callback)


def wake(*, at: datetime | None = None) -> None:
    """Work may be due (now, or at `at`): one message or one wake-up, however many deliveries."""
    if uses_celery():
        try:
            app.send_task(DELIVER, eta=at)
        except Exception:  # noqa: BLE001 - broker down: the sweep queues the work when it is back
            logger.warning("could not publish a delivery hint; the sweep will pick the work up", exc_info=True)
        return
    for callback in list(_wakers):
        callback()
