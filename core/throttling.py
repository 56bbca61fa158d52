"""API rate limits (429 `rate_limited`), read from settings on each request so they can be tuned.

DRF keeps each client's request times as one list in the cache, re-read, copied, prepended to
and pickled back on every request: at a switch's rate (thousands of requests a minute) that list
is tens of thousands long and the throttle costs more than the look-up it guards. When the cache
is this process's own memory anyway (the default LocMemCache), the same sliding window is kept
here as a deque per client instead — the same rule, without the copying. With a shared cache
(CACHE_URL: Redis) the limit is shared by every process, so DRF's way is kept.

Service accounts — holding `callnotify.add_callevent` or `sbcrules.lookup_route` — are switches,
not people: on the views they exist for (a view says so with `service_view = True`: the call
event ingestion and the route look-up) they get API_RATE_SERVICE instead of API_RATE_USER.
The permission was already read by the view's permission check, so this costs no query.
"""

from __future__ import annotations

import threading
from collections import deque
from functools import cache

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

_histories: dict[str, deque[float]] = {}
_lock = threading.Lock()
# Clients whose window is empty are forgotten once this many are held (LocMemCache culls too):
# anonymous clients are keyed by address, and addresses come and go.
MAX_CLIENTS = 10_000


def reset() -> None:
    """Forget every client's history (what clearing the cache does for DRF's way; tests)."""
    with _lock:
        _histories.clear()


@cache
def _parsed(rate: str) -> tuple[int | None, int | None]:
    return SimpleRateThrottle.parse_rate(None, rate)  # type: ignore[arg-type]


class ProcessLocalHistory(SimpleRateThrottle):
    def parse_rate(self, rate: str | None) -> tuple[int | None, int | None]:
        # DRF parses the rate text on every request, twice; a handful of rates are ever set.
        return (None, None) if rate is None else _parsed(rate)

    def allow_request(self, request, view) -> bool:  # type: ignore[no-untyped-def]
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:  # (the anonymous limit, for a request with a credential)
            return True
        if not isinstance(caches["default"], LocMemCache):
            return super().allow_request(request, view)
        self.now = now = self.timer()
        with _lock:
            history = _histories.setdefault(self.key, deque())
            while history and history[0] <= now - self.duration:
                history.popleft()
            if len(history) >= self.num_requests:
                # What wait() reads: the oldest time and the count (DRF's copies the whole window,
                # tens of thousands of times at a switch's rate, on every refused request).
                self.window = (history[0] if history else None, len(history))
                return self.throttle_failure()
            history.append(now)
            if len(_histories) > MAX_CLIENTS:
                for key in [key for key, times in _histories.items() if times[-1] <= now - self.duration]:
                    del _histories[key]
        return True

    def wait(self) -> float | None:
        window = getattr(self, "window", None)
        if window is None:  # DRF's own history (a shared cache)
            return super().wait()
        oldest, count = window
        available = self.num_requests - count + 1
        if available <= 0:
            return None
        return (self.duration - (self.now - oldest) if oldest is not None else self.duration) / float(available)


SERVICE_PERMISSIONS = ("callnotify.add_callevent", "sbcrules.lookup_route")


def is_service_account(user: object) -> bool:
    has_perm = getattr(user, "has_perm", None)
    return has_perm is not None and any(has_perm(perm) for perm in SERVICE_PERMISSIONS)


class EmployeeRateThrottle(ProcessLocalHistory, UserRateThrottle):
    def allow_request(self, request, view) -> bool:  # type: ignore[no-untyped-def]
        if getattr(view, "service_view", False) and is_service_account(request.user):
            self.rate = settings.API_RATE_SERVICE
        else:
            self.rate = settings.API_RATE_USER
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_rate(self) -> str:
        return settings.API_RATE_USER


class AnonymousRateThrottle(ProcessLocalHistory, AnonRateThrottle):
    def get_rate(self) -> str:
        return settings.API_RATE_ANON
