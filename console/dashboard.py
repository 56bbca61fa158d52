"""The figures of the admin's dashboard, each from a bounded query (docs/console.md lists the cost of each).

Nothing here scans the delivery table: attempt counts per minute and endpoint health come from
the counters the delivery engine keeps (callnotify/endpoint_health.py); the backlog reads the
(state, next_attempt_at) index, counting at most BACKLOG_CAP rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import TruncMinute
from django.utils import timezone

from callnotify import sweep
from callnotify.endpoint_health import window_figures
from callnotify.models import CallEvent, Delivery, EndpointHealth
from console.plots import Series, stacked_bars
from core.counters import minute_of
from core.models import MinuteCount
from sbcrules.models import Peer

BACKLOG_CAP = 100_000
OUTCOMES = (("DELIVERED", "#2e7d32"), ("RETRY", "#f9a825"), ("FAILED", "#c62828"), ("INTERRUPTED", "#6a1b9a"))
ROUTE_COLORS = ("#1565c0", "#00838f", "#6d4c41", "#558b2f", "#8e24aa", "#ef6c00", "#c62828", "#546e7a")
FAILING_SHOWN = 10


def _bins(start: datetime, step: timedelta, count: int) -> list[datetime]:
    return [start + step * i for i in range(count)]


def _per_bin(rows: list[tuple[str, datetime, int]], names: list[str], start: datetime, step: timedelta,
             count: int) -> dict[str, list[int]]:
    values = {name: [0] * count for name in names}
    for name, minute, n in rows:
        index = int((minute - start) / step)
        if name in values and 0 <= index < count:
            values[name][index] += n
    return values


def delivery_plots(now: datetime) -> dict[str, Any]:
    """Attempts per minute by outcome, last hour (60 bars) and last day (96 bars of 15 minutes).

    One query: the (name, minute) key of MinuteCount, at most 4 × 1,440 rows.
    """
    hour_start = minute_of(now) - timedelta(minutes=59)
    day_step = timedelta(minutes=15)
    day_start = minute_of(now).replace(minute=minute_of(now).minute // 15 * 15) - day_step * 95
    names = [f"delivery.{o}" for o, _ in OUTCOMES]
    rows = list(MinuteCount.objects.filter(name__in=names, minute__gte=day_start).values_list("name", "minute", "count"))
    hour = _per_bin(rows, names, hour_start, timedelta(minutes=1), 60)
    day = _per_bin(rows, names, day_start, day_step, 96)
    local = timezone.localtime
    return {
        "hour": stacked_bars([f"{local(t):%H:%M}" for t in _bins(hour_start, timedelta(minutes=1), 60)],
                             [Series(o.lower(), color, hour[f"delivery.{o}"]) for o, color in OUTCOMES],
                             title="Delivery attempts per minute by outcome, last hour"),
        "day": stacked_bars([f"{local(t):%H:%M}" for t in _bins(day_start, day_step, 96)],
                            [Series(o.lower(), color, day[f"delivery.{o}"]) for o, color in OUTCOMES],
                            title="Delivery attempts per 15 minutes by outcome, last day", every=16),
        "hourTotals": {o: sum(hour[f"delivery.{o}"]) for o, _ in OUTCOMES},
        "dayTotals": {o: sum(day[f"delivery.{o}"]) for o, _ in OUTCOMES},
    }


def _capped(queryset: Any) -> int:
    return queryset.order_by()[: BACKLOG_CAP + 1].count()


def backlog(now: datetime) -> dict[str, Any]:
    """Pending deliveries, of them the overdue and the held ones (callnotify/sweep.py: the same
    counts /api/metrics gives), each counted up to BACKLOG_CAP, and the oldest due one: reads of
    the (state, next_attempt_at) index, and of the (endpoint, call_id, sequence) one for "held"."""
    pending = Delivery.objects.filter(state=Delivery.State.PENDING)
    count = _capped(pending)
    oldest = pending.filter(next_attempt_at__lte=now).order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
    return {
        "pending": min(count, BACKLOG_CAP), "pendingCapped": count > BACKLOG_CAP,
        "overdue": min(_capped(sweep.overdue(now)), BACKLOG_CAP), "held": min(_capped(sweep.held(now)), BACKLOG_CAP),
        "oldestDueAt": oldest, "oldestDueSeconds": int((now - oldest).total_seconds()) if oldest else None,
    }


def failing_endpoints(now: datetime) -> list[dict[str, Any]]:
    """The endpoints with the longest runs of failures (the health index), with their last hour and day."""
    rows = list(EndpointHealth.objects.filter(consecutive_failures__gt=0).select_related("endpoint__customer")
                .order_by("-consecutive_failures")[:FAILING_SHOWN])
    ids = [h.endpoint_id for h in rows]
    hour = window_figures(ids, now - timedelta(hours=1)) if ids else {}
    day = window_figures(ids, now - timedelta(days=1)) if ids else {}
    return [{"health": h, "endpoint": h.endpoint, "hour": hour[h.endpoint_id], "day": day[h.endpoint_id]} for h in rows]


def routing(now: datetime) -> dict[str, Any]:
    """Decisions by reason of every process (flushed counters), last hour per minute and last day; one query."""
    start = minute_of(now) - timedelta(days=1)
    rows = list(MinuteCount.objects.filter(name__startswith="route.", minute__gte=start).values_list("name", "minute", "count"))
    names = sorted({name for name, _, _ in rows})
    hour_start = minute_of(now) - timedelta(minutes=59)
    hour = _per_bin(rows, names, hour_start, timedelta(minutes=1), 60)
    day_totals: dict[str, int] = {}
    for name, _, n in rows:
        day_totals[name] = day_totals.get(name, 0) + n
    reasons = [{"reason": name.removeprefix("route."), "hour": sum(hour[name]), "day": day_totals[name]} for name in names]
    plot = stacked_bars([f"{timezone.localtime(t):%H:%M}" for t in _bins(hour_start, timedelta(minutes=1), 60)],
                        [Series(name.removeprefix("route."), ROUTE_COLORS[i % len(ROUTE_COLORS)], hour[name])
                         for i, name in enumerate(names)],
                        title="Routing decisions per minute by reason, last hour (every process)")
    return {"reasons": reasons, "plot": plot}


def unusable_peers() -> list[Peer]:
    """Peers that are down or have no host up (docs/api.md §9): one query over the small peer table."""
    return list(Peer.objects.annotate(hosts_up=Count("hosts", filter=Q(hosts__down=False)))
                .filter(Q(up=False) | Q(hosts_up=0)).order_by("id"))


def events_ingested(now: datetime) -> dict[str, Any]:
    """Call events stored per minute over the last hour: a range read of the created_at index
    (its cost grows with the last hour's events, not with the table)."""
    start = minute_of(now) - timedelta(minutes=59)
    rows = (CallEvent.objects.filter(created_at__gte=start).annotate(m=TruncMinute("created_at"))
            .values("m").annotate(n=Count("pk")).order_by().values_list("m", "n"))
    values = [0] * 60
    for minute, n in rows:
        index = int((minute - start) / timedelta(minutes=1))
        if 0 <= index < 60:
            values[index] += n
    plot = stacked_bars([f"{timezone.localtime(t):%H:%M}" for t in _bins(start, timedelta(minutes=1), 60)],
                        [Series("events", "#1565c0", values)], title="Call events ingested per minute, last hour")
    return {"total": sum(values), "plot": plot}


def figures(now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    return {
        "now": now,
        "deliveries": delivery_plots(now),
        "backlog": backlog(now),
        "failing": failing_endpoints(now),
        "routing": routing(now),
        "unusablePeers": unusable_peers(),
        "events": events_ingested(now),
    }
