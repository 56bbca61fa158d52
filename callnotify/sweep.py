"""What is due, and the sweep that makes sure someone looks (docs/callevents.md §6).

The sweep is the safety net for lost hints: deliveries overdue by more than the grace period
(their message was lost, a broker restarted, a worker died) get fresh `deliver` hints, one per
batch's worth. Read-only: delivery.py alone changes deliveries.

Each Celery worker asks for a sweep every CALLNOTIFY_SWEEP_SECONDS (`SweepStep`, a worker step
that telecomx/celery.py adds), so a worker alone (no beat) re-queues deliveries whose message was
lost. Several workers sweeping is harmless: the sweep only queues messages, and the database
lease decides who attempts.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

from celery import bootsteps, current_app
from django.conf import settings
from django.db.models import Count, Exists, Min, OuterRef, Q
from django.utils import timezone

from callnotify import hints
from callnotify.models import Delivery

logger = logging.getLogger("callnotify.sweep")
MAX_HINTS = 32
SWEEP = "callnotify.sweep"  # the task (tasks.py) a worker step publishes


# --- what is due: the one definition (the sweep, the dashboard, /api/metrics, GET /metrics) ------
#
# A PENDING delivery is HELD while an earlier event of the same call is still PENDING at the same
# endpoint (events of a call arrive in order, docs/callevents.md): it waits by design, not because
# anything is late. It is DUE when its time has come and it is not held, and OVERDUE when it has
# been due for more than CALLNOTIFY_SWEEP_GRACE_SECONDS and nobody holds its lease: the sweep
# re-queues those, and an alert watches how long the oldest due one has waited.

BACKLOG_CAP = 100_000  # counts stop here: a backlog this large is an incident whatever its size


def held() -> Exists:
    """True for a delivery behind an earlier PENDING event of its call at its endpoint (the
    (endpoint, call_id, sequence) index, one probe per row)."""
    return Exists(Delivery.objects.filter(endpoint_id=OuterRef("endpoint_id"), call_id=OuterRef("call_id"),
                                          state=Delivery.State.PENDING, sequence__lt=OuterRef("sequence")))


def overdue(now: datetime, *, before: datetime | None = None) -> int:
    """PENDING deliveries due by `before` (default: now), not held, that nobody holds."""
    return (Delivery.objects.filter(state=Delivery.State.PENDING, next_attempt_at__lte=before or now)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now)).filter(~held()).count())


def backlog(now: datetime) -> dict[str, float]:
    """pending, held, due, overdue and the oldest due delivery's age in seconds (0: none due), in one
    statement over the (state, next_attempt_at) index, at most BACKLOG_CAP rows (the earliest)."""
    grace = now - timedelta(seconds=settings.CALLNOTIFY_SWEEP_GRACE_SECONDS)
    free = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    rows = (Delivery.objects.filter(state=Delivery.State.PENDING).annotate(is_held=held())
            .order_by("next_attempt_at")[:BACKLOG_CAP])
    due = Q(is_held=False, next_attempt_at__lte=now)
    figures = rows.aggregate(
        pending=Count("id"), held=Count("id", filter=Q(is_held=True)), due=Count("id", filter=due),
        overdue=Count("id", filter=due & Q(next_attempt_at__lte=grace) & free), oldest=Min("next_attempt_at", filter=due),
    )
    oldest = figures.pop("oldest")
    return {**figures, "oldestDueAgeSeconds": max(0.0, (now - oldest).total_seconds()) if oldest else 0.0}


def sweep(*, now: datetime | None = None) -> int:
    """Publish hints for deliveries overdue by more than the grace period; answers how many were overdue."""
    now = now or timezone.now()
    count = overdue(now, before=now - timedelta(seconds=settings.CALLNOTIFY_SWEEP_GRACE_SECONDS))
    if count:
        logger.info("sweep: %d overdue deliveries", count)
        for _ in range(min(MAX_HINTS, math.ceil(count / settings.CALLNOTIFY_BATCH_SIZE))):
            hints.wake(coalesce=False)
    return count


def seconds_until_next_due(now: datetime) -> float | None:
    """When the next PENDING delivery falls due (or a lease runs out); None when there is nothing pending."""
    first = (Delivery.objects.filter(state=Delivery.State.PENDING)
             .order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first())
    return None if first is None else (first - now).total_seconds()


def request_sweep() -> None:
    try:
        current_app.send_task(SWEEP)
    except Exception:  # noqa: BLE001 - broker down; the next tick tries again
        logger.warning("could not queue a sweep", exc_info=True)


class SweepStep(bootsteps.StartStopStep):
    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker: object, **kwargs: object) -> None:
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker: object) -> None:
        interval = settings.CALLNOTIFY_SWEEP_SECONDS
        if interval > 0:
            request_sweep()  # at start-up too: this worker may replace one that died
            self.tref = worker.timer.call_repeatedly(interval, request_sweep, priority=10)  # type: ignore[attr-defined]

    def stop(self, worker: object) -> None:
        if self.tref is not None:
            self.tref.cancel()
