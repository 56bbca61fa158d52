"""The Redis cache (CACHE_URL) with a fallback to this process's own memory while Redis is away.

What the cache holds here is counting: API rate limits, login failures, test-send limits, the
metrics' short-lived figures. None of it may fail a request (docs/operations.md, "When a
dependency is down"): a command Redis does not answer within REDIS_TIMEOUT opens the cache
breaker (core/outage.py), and until it closes every operation goes to a LocMemCache of this
process instead — limits are then counted per process, not per node, until Redis is back.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

from core import outage

logger = logging.getLogger("telecomx.cache")
UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class RedisWithFallback(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self.local = LocMemCache("telecomx-cache-fallback", {"OPTIONS": {"MAX_ENTRIES": 10_000}})

    def reachable(self) -> bool:
        """Does Redis answer a PING now? (The breaker's answer while it is open.)"""
        if outage.cache.is_open():
            return False
        try:
            self._cache.get_client(write=True).ping()
        except UNREACHABLE:
            outage.cache.trip()
            return False
        return True


def _with_fallback(name: str) -> Any:
    def method(self: RedisWithFallback, *args: Any, **kwargs: Any) -> Any:
        if not outage.cache.is_open():
            try:
                return getattr(RedisCache, name)(self, *args, **kwargs)
            except UNREACHABLE:
                outage.cache.trip()
                logger.warning("Redis cache unreachable: counting in this process for now", exc_info=True)
        return getattr(self.local, name)(*args, **kwargs)

    method.__name__ = name
    return method


for _name in ("add", "get", "set", "touch", "delete", "get_many", "has_key", "incr", "set_many", "delete_many", "clear"):
    setattr(RedisWithFallback, _name, _with_fallback(_name))
