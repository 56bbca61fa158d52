"""What a process does while the database or Redis is away (docs/operations.md, "When a dependency
is down").

- A **breaker** per dependency: the first failure to reach it opens the breaker for
  DEPENDENCY_RETRY_SECONDS (1 s), and until then nothing tries it again (core.pgbackend refuses
  new database connections at once), so an outage costs a request microseconds, not a connect
  timeout each.
- **Degraded answers**: a request answered without the database (a route look-up from memory)
  is marked here, and the answer carries `Telecomx-Degraded: database` (core.requestlog).
- **503 `unavailable`**: what cannot be done without the database (every write, every list) is
  answered "Service temporarily unavailable" with `Retry-After`, and stores nothing (each write
  is one transaction, rolled back whole).
"""

from __future__ import annotations

import threading
import time
from contextvars import ContextVar

from django.conf import settings
from django.db import InterfaceError, OperationalError

from core.errors import UNAVAILABLE, ApiError


class Unavailable(ApiError):
    """503: a dependency this request needs is away; the client retries after `Retry-After`."""

    def __init__(self) -> None:
        super().__init__(*UNAVAILABLE)


class Breaker:
    """Open (the dependency is taken as down) for DEPENDENCY_RETRY_SECONDS after a failure to reach it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.open_until = 0.0
        self.down = False  # failed to reach it, and not reached since (the breaker may be closed again to retry)
        self.lock = threading.Lock()

    def is_open(self) -> bool:
        return time.monotonic() < self.open_until

    def trip(self) -> None:
        self.open_until = time.monotonic() + settings.DEPENDENCY_RETRY_SECONDS
        self.down = True

    def close(self) -> None:
        self.open_until = 0.0
        self.down = False


database = Breaker("database")
cache = Breaker("cache")
broker = Breaker("broker")


def is_database_unreachable(exc: BaseException) -> bool:
    """Is `exc` the database being away (refused, cut, restarting) rather than a bad statement?"""
    return isinstance(exc, (OperationalError, InterfaceError))


_degraded: ContextVar[frozenset[str]] = ContextVar("telecomx_degraded", default=frozenset())


def mark_degraded(dependency: str) -> None:
    """This request's answer was made without `dependency`."""
    _degraded.set(_degraded.get() | {dependency})


def degraded() -> frozenset[str]:
    return _degraded.get()


def begin_request() -> object:
    return _degraded.set(frozenset())


def end_request(token: object) -> None:
    _degraded.reset(token)  # type: ignore[arg-type]
