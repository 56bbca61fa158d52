"""What is late, and the sweep that makes sure someone looks (docs/callevents.md §6).

Late work, defined once (the sweep, /api/metrics and the dashboard count it the same way): a
PENDING delivery more than CALLNOTIFY_SWEEP_GRACE_SECONDS past its due time is

- `overdue` when nothing holds it: no attempt (lease) and no earlier event of its call; its hint
  was lost, a broker restarted, a worker died, or the workers are behind;
- `held` when an earlier event of the same call is still PENDING for that endpoint: it waits its
  turn (a call's events reach an endpoint in order), and goes as soon as that one is done.

The sweep is the safety net for lost hints: overdue deliveries get fresh `deliver` hints, one per
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
from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from callnotify import hints
from callnotify.models import Delivery, behind_an_earlier_event

logger = logging.getLogger("callnotify.sweep")
MAX_HINTS = 32
SWEEP = "callnotify.sweep"  # the task (tasks.py) a worker step publishes


def _late(now: datetime) -> QuerySet[Delivery]:
    grace = timedelta(seconds=settings.CALLNOTIFY_SWEEP_GRACE_SECONDS)
    return Delivery.objects.filter(state=Delivery.State.PENDING, next_attempt_at__lte=now - grace)


def overdue(now: datetime) -> QuerySet[Delivery]:
    """Late deliveries that nothing holds (module docstring)."""
    return (_late(now).filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
            .filter(~behind_an_earlier_event()))


def held(now: datetime) -> QuerySet[Delivery]:
    """Late deliveries waiting for an earlier event of their call (module docstring)."""
    return _late(now).filter(behind_an_earlier_event())


BACKLOG_CAP = 100_000  # GET /metrics looks at no more pending rows than this: a backlog this large is an incident


def backlog(now: datetime) -> dict[str, float]:
    """GET /metrics's backlog in one statement over at most BACKLOG_CAP pending rows (the earliest,
    on the (state, next_attempt_at) index): pending; held and overdue as defined above; due (its
    time has come, no earlier event of its call before it); the oldest due one's age (0: none)."""
    late = now - timedelta(seconds=settings.CALLNOTIFY_SWEEP_GRACE_SECONDS)
    free = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    rows = (Delivery.objects.filter(state=Delivery.State.PENDING).annotate(behind=behind_an_earlier_event())
            .order_by("next_attempt_at")[:BACKLOG_CAP])
    due = Q(behind=False, next_attempt_at__lte=now)
    figures = rows.aggregate(
        pending=Count("id"), due=Count("id", filter=due),
        held=Count("id", filter=Q(behind=True, next_attempt_at__lte=late)),
        overdue=Count("id", filter=due & Q(next_attempt_at__lte=late) & free),
        oldest=Min("next_attempt_at", filter=due),
    )
    oldest = figures.pop("oldest")
    return {**figures, "oldestDueAgeSeconds": max(0.0, (now - oldest).total_seconds()) if oldest else 0.0}


def sweep(*, now: datetime | None = None) -> int:
    """Publish hints for overdue deliveries; answers how many were overdue."""
    now = now or timezone.now()
    count = overdue(now).count()
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
