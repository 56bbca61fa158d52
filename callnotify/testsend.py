"""Limits on test sends (`POST .../callnotify/<ID>/test`, docs/callevents.md §5).

A test send runs inline in a web thread, the same threads that answer the switches' route
look-ups and event posts; without limits a customer could occupy them all with an endpoint that
never answers. So a test send has its own short deadline (CALLNOTIFY_TEST_TIMEOUT), at most
CALLNOTIFY_TEST_CONCURRENCY run at once in a process and one per customer, and a customer may
start CALLNOTIFY_TEST_RATE per minute (counted in the cache, shared with CACHE_URL). Beyond
any of these the answer is 429 `rate_limited` at once, without waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache

from core.errors import ApiError

_lock = threading.Lock()
_running: set[str] = set()  # customers with a test send in flight in this process


def _too_many() -> ApiError:
    return ApiError(429, "rate_limited", "Too many requests")


def _count_this_minute(customer_id: str) -> int:
    key = f"test-sends:{customer_id}:{int(time.time() // 60)}"
    if cache.add(key, 1, timeout=120):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=120)
        return 1


@contextmanager
def sending_slot(customer_id: str) -> Iterator[None]:
    """Hold one of the process's test-send slots for `customer_id`, or raise the 429."""
    with _lock:
        if customer_id in _running or len(_running) >= settings.CALLNOTIFY_TEST_CONCURRENCY:
            raise _too_many()
        _running.add(customer_id)
    try:
        if _count_this_minute(customer_id) > settings.CALLNOTIFY_TEST_RATE:
            raise _too_many()
        yield
    finally:
        with _lock:
            _running.discard(customer_id)
