"""Routing decisions, counted once per look-up: in the node's Prometheus counter (every process of
the node adds up: GET /metrics and /api/metrics), and every process's per minute in the shared
counters (for the dashboard)."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core import metrics
from core.counters import add_counts, minute_of

logger = logging.getLogger("sbcrules.counts")


class RoutingCounts:
    """Decisions a process made: the Prometheus counter, and the ones not yet flushed to
    `MinuteCount` (`route.<reason>`), flushed at most every ROUTING_COUNTS_FLUSH_SECONDS by the
    look-up that finds the time has come: one upsert per flush, nothing per look-up but a clock
    read. 0 switches flushing off (the tests' default); the counter counts all the same."""

    def __init__(self) -> None:
        self.pending: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.next_flush = 0.0

    def add(self, reason: str) -> None:
        try:  # every process of the node adds up: GET /metrics and /api/metrics
            metrics.ROUTE_LOOKUPS.labels(reason).inc()
        except Exception:  # noqa: BLE001 - counting never fails a look-up
            logger.warning("could not count a routing decision", exc_info=True)
        every = settings.ROUTING_COUNTS_FLUSH_SECONDS
        if every <= 0:
            return
        with self.lock:
            self.pending[reason] += 1
            clock = time.monotonic()
            if clock < self.next_flush:
                return
            self.next_flush = clock + every
            counts, self.pending = self.pending, Counter()
        self.flush(counts)

    def flush(self, counts: Counter[str] | None = None) -> None:
        if counts is None:
            with self.lock:
                counts, self.pending = self.pending, Counter()
        minute = minute_of(timezone.now())
        try:
            with transaction.atomic():
                add_counts({(f"route.{reason}"[:40], minute): n for reason, n in counts.items()})
        except Exception:  # noqa: BLE001 - a counter must never fail a look-up; these counts are lost
            logger.warning("could not store %d routing decision counts", sum(counts.values()), exc_info=True)

    def reset(self) -> None:
        """Forget every count (tests: each starts as a fresh process)."""
        with self.lock:
            self.pending.clear()
            self.next_flush = 0.0


routing_counts = RoutingCounts()
