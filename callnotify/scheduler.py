"""What is due, and the sweep that makes sure someone looks (docs/callevents.md §6).

The sweep is the safety net for lost hints: deliveries overdue by more than the grace period
(their message was lost, a broker restarted, a worker died) get fresh `deliver` hints, one per
batch's worth. Read-only: delivery.py alone changes deliveries.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from callnotify import dispatch
from callnotify.models import Delivery

logger = logging.getLogger("callnotify.scheduler")
MAX_HINTS = 32


def overdue(now: datetime, *, before: datetime | None = None) -> int:
    """PENDING deliveries due by `before` (default: now) that nobody holds."""
    return (Delivery.objects.filter(state=Delivery.State.PENDING, next_attempt_at__lte=before or now)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now)).count())


def sweep(*, now: datetime | None = None) -> int:
    """Publish hints for deliveries overdue by more than the grace period; answers how many were overdue."""
    now = now or timezone.now()
    count = overdue(now, before=now - timedelta(seconds=settings.CALLNOTIFY_SWEEP_GRACE_SECONDS))
    if count:
        logger.info("sweep: %d overdue deliveries", count)
        for _ in range(min(MAX_HINTS, math.ceil(count / settings.CALLNOTIFY_BATCH_SIZE))):
            dispatch.wake(coalesce=False)
    return count


def seconds_until_next_due(now: datetime) -> float | None:
    """When the next PENDING delivery falls due (or a lease runs out); None when there is nothing pending."""
    first = (Delivery.objects.filter(state=Delivery.State.PENDING)
             .order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first())
    return None if first is None else (first - now).total_seconds()
