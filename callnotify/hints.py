"""Hints: telling the delivery side that work may be due. A leaf module that imports nothing of the engine.

With a broker, a hint is a `callnotify.deliver` Celery message, published by name (tasks.py
consumes it); without one, the in-process runner registers a callback here and is woken.
Hints are never required for correctness (delivery.py): failing to publish one is logged,
never raised into the request that stored the event, because the sweep finds the work anyway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from celery import current_app
from django.conf import settings

from core import outage

logger = logging.getLogger("callnotify.hints")
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


HINT_DELAY = 0.05  # seconds: hints for "now" asked for within this window become one message
_hint_lock = threading.Lock()
_hint_scheduled = False


def wake(*, at: datetime | None = None, coalesce: bool = True) -> None:
    """Work may be due (now, or at `at`): one message or one wake-up, however many deliveries.

    With a broker, hints for "now" are coalesced per process: the first one in a HINT_DELAY
    window schedules one message at the window's end, which every later one in the window
    rides on (a busy web process publishes at most 1/HINT_DELAY messages a second, not one per
    request, and each still follows its commit by at most HINT_DELAY). A worker asking for its
    own next batch does not wait (coalesce=False).
    """
    global _hint_scheduled
    if uses_celery():
        if at is not None or not coalesce:
            _publish(at)
            return
        with _hint_lock:
            if _hint_scheduled:
                return
            _hint_scheduled = True
        timer = threading.Timer(HINT_DELAY, _flush)
        timer.daemon = True
        timer.start()
        return
    for callback in list(_wakers):
        callback()


def _flush() -> None:
    global _hint_scheduled
    with _hint_lock:
        _hint_scheduled = False  # a hint asked for from now on schedules the next message
    _publish(None)


def _publish(at: datetime | None) -> None:
    if outage.broker.is_open():
        return  # the broker failed a moment ago: the hint is dropped, the sweep finds the work
    try:
        current_app.send_task(DELIVER, eta=at, retry=False)
    except Exception:  # noqa: BLE001 - broker down: the sweep queues the work when it is back
        outage.broker.trip()
        logger.warning("could not publish a delivery hint; the sweep will pick the work up", exc_info=True)
