"""Finding due work: the fair pick of due deliveries (in-process runner) and the sweep (Celery workers).

Both only hand out ids; delivery.claim decides whether an attempt really happens.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from callnotify import dispatch
from callnotify.delivery import first_of_their_call
from callnotify.models import Delivery

logger = logging.getLogger("callnotify.sweep")


def pick_due(now: datetime, *, overdue_before: datetime | None = None, limit: int = 100,
             exclude: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """Deliveries to queue now, fairly: at most the free share of each endpoint, each call's earliest only."""
    cap = settings.CALLNOTIFY_ENDPOINT_CONCURRENCY
    busy = dict(Delivery.objects.filter(state=Delivery.State.PENDING, lease_until__gt=now)
                .values("endpoint_id").annotate(n=Count("id")).values_list("endpoint_id", "n"))
    rows = (Delivery.objects.filter(state=Delivery.State.PENDING, next_attempt_at__lte=overdue_before or now)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
            .exclude(endpoint_id__in=[e for e, n in busy.items() if n >= cap])
            .order_by("next_attempt_at", "sequence").values_list("id", "endpoint_id", "call_id", "sequence")[: min(limit * 4, 2000)])
    picked: list[str] = []
    taken: dict[str, int] = {}
    calls: set[tuple[str, str]] = set()
    for pk, endpoint_id, call_id, _ in first_of_their_call(list(rows)):
        if pk in exclude or (endpoint_id, call_id) in calls or taken.get(endpoint_id, 0) + busy.get(endpoint_id, 0) >= cap:
            continue
        calls.add((endpoint_id, call_id))
        taken[endpoint_id] = taken.get(endpoint_id, 0) + 1
        picked.append(pk)
        if len(picked) >= limit:
            break
    return picked


def sweep(*, now: datetime | None = None, limit: int = 1000) -> list[str]:
    """Re-queue deliveries overdue by more than the grace period (their message was lost, or a worker died)."""
    now = now or timezone.now()
    overdue = now - timedelta(seconds=settings.CALLNOTIFY_SWEEP_GRACE_SECONDS)
    ids = pick_due(now, overdue_before=overdue, limit=limit)
    Delivery.objects.filter(pk__in=ids, deferred=True).update(deferred=False)
    if ids:
        logger.info("sweep re-queues %d overdue deliveries", len(ids))
        dispatch.enqueue(ids)
    return ids


def seconds_until_next_due(now: datetime) -> float | None:
    first = (Delivery.objects.filter(state=Delivery.State.PENDING, next_attempt_at__gt=now)
             .order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first())
    return (first - now).total_seconds() if first else None
