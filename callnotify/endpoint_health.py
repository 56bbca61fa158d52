"""Endpoint health and the delivery counters, kept by the delivery engine.

The engine calls `record(outcomes)` once per batch of finished attempts, inside the transaction
that stores them, so the figures can never disagree with the delivery log. `record` writes with
a fixed number of statements whatever the batch size (three upserts, plus one look-up and at most
two updates when an endpoint has been failing long enough to be disabled): nothing is read or
written per row, and the dashboard and the API read these small tables instead of scanning the
delivery table.

- `EndpointHealth`: one row per endpoint that ever had an attempt — last success and failure,
  the current run of consecutive failures and when it began, and why it was disabled.
- `EndpointMinute`: per endpoint and minute, attempts delivered and failed and a histogram of
  their durations (p50/p95 are read from it, as the upper bound of the bucket they fall in).
- `core.models.MinuteCount`: per minute, the named counters `delivery.<OUTCOME>` (attempts by outcome).

An endpoint that has failed every attempt for CALLNOTIFY_DISABLE_AFTER_DAYS is disabled with the
reason kept on its health row (as Svix does); setting it ACTIVE again starts the count afresh.
Rows older than two days are deleted by `prune()` (run by `manage.py prunedeliveries`).
"""

from __future__ import annotations

import bisect
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Min, Sum
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from callnotify.models import BUCKET_FIELDS, BUCKETS_MS, CallNotify, EndpointHealth, EndpointMinute
from core.counters import add_counts, minute_of, prune_counts, upsert
from core.db import fetch_all, list_param, list_rows

logger = logging.getLogger("callnotify.endpoint_health")

KEEP = timedelta(days=2)
FAILED_OUTCOMES = {"RETRY", "FAILED", "INTERRUPTED"}


@dataclass(frozen=True)
class Outcome:
    """One finished attempt, as the engine records it."""

    endpoint_id: str
    customer_id: str | None  # carried for callers' convenience; not stored
    outcome: str  # an Attempt.Outcome value: DELIVERED, RETRY, FAILED, INTERRUPTED
    duration_ms: int
    at: datetime  # when the attempt ended


def bucket_of(duration_ms: int) -> int:
    return bisect.bisect_left(BUCKETS_MS, duration_ms)


def record(outcomes: Iterable[Outcome], *, now: datetime | None = None) -> list[str]:
    """Fold a batch of finished attempts into the health rows and counters; call it inside the
    transaction that records the attempts. Answers the ids of endpoints it disabled."""
    outcomes = sorted(outcomes, key=lambda o: o.at)
    if not outcomes:
        return []
    minutes: dict[tuple[str, datetime], list[int]] = defaultdict(lambda: [0] * (2 + len(BUCKET_FIELDS)))
    counts: Counter[tuple[str, datetime]] = Counter()
    # Per endpoint: last success, last failure, failures since the batch's last success, when they began.
    streak: dict[str, list] = {}
    for o in outcomes:
        ok = o.outcome == "DELIVERED"
        row = minutes[(o.endpoint_id, minute_of(o.at))]
        row[0 if ok else 1] += 1
        row[2 + bucket_of(o.duration_ms)] += 1
        counts[(f"delivery.{o.outcome}", minute_of(o.at))] += 1
        s = streak.setdefault(o.endpoint_id, [None, None, 0, None])
        if ok:
            s[0], s[2], s[3] = o.at, 0, None
        else:
            s[1], s[2] = o.at, s[2] + 1
            s[3] = s[3] or o.at
    upsert(EndpointMinute, ("endpoint_id", "minute"),
            [(endpoint, minute, *values) for (endpoint, minute), values in minutes.items()],
            ["delivered", "failed", *BUCKET_FIELDS])
    add_counts(counts)
    table = connection.ops.quote_name(EndpointHealth._meta.db_table)
    # A success in the batch restarts the run at the failures after it; otherwise the run goes on.
    upsert(EndpointHealth, ("endpoint_id",), [(pk, s[2], s[0], s[1], s[3]) for pk, s in streak.items()], [], {
        "consecutive_failures": f"CASE WHEN excluded.last_success_at IS NOT NULL THEN excluded.consecutive_failures"
                                f" ELSE {table}.consecutive_failures + excluded.consecutive_failures END",
        "last_success_at": f"COALESCE(excluded.last_success_at, {table}.last_success_at)",
        "last_failure_at": f"COALESCE(excluded.last_failure_at, {table}.last_failure_at)",
        "failing_since": f"CASE WHEN excluded.last_success_at IS NOT NULL THEN excluded.failing_since"
                         f" ELSE COALESCE({table}.failing_since, excluded.failing_since) END",
    })
    failing = [pk for pk, s in streak.items() if s[0] is None]
    return _disable_long_failing(failing, now or outcomes[-1].at) if failing else []


def _disable_long_failing(endpoint_ids: list[str], now: datetime) -> list[str]:
    days = settings.CALLNOTIFY_DISABLE_AFTER_DAYS
    if days <= 0:
        return []
    since = now - timedelta(days=days)
    ids = list(EndpointHealth.objects.filter(endpoint_id__in=endpoint_ids, failing_since__lte=since,
                                             endpoint__state=CallNotify.State.ACTIVE).values_list("endpoint_id", flat=True))
    if ids:
        disable(ids, reason=f"every attempt failed for {days} days (CALLNOTIFY_DISABLE_AFTER_DAYS)", now=now)
    return ids


GONE = "the endpoint answered 410 Gone"


def disable(endpoint_ids: Iterable[str], *, reason: str, now: datetime) -> None:
    """THE engine's "disable this endpoint" (a 410, the five-day rule): no more deliveries, and the
    reason kept on its health row until it is enabled again. Two statements, in the caller's
    transaction."""
    ids = sorted(set(endpoint_ids))
    CallNotify.objects.filter(pk__in=ids).update(state=CallNotify.State.DISABLED)
    # (adding 0 failures: a row made here starts with none, a row that exists keeps its run)
    upsert(EndpointHealth, ("endpoint_id",), [(pk, 0, now, reason[:200]) for pk in ids], ["consecutive_failures"],
           {"disabled_at": "excluded.disabled_at", "disabled_reason": "excluded.disabled_reason"})
    logger.warning("disabled %d call notify endpoints (%s): %s", len(ids), reason, ", ".join(ids))


@receiver(post_save, sender=CallNotify)
def _fresh_start_when_enabled(sender: type, instance: CallNotify, created: bool = False, **kwargs: object) -> None:
    """Enabled again (API or admin), however it was disabled (a 410, the five-day rule, its own
    customer): the failures before, and why it was disabled, no longer count."""
    was_disabled = instance.loaded_state == CallNotify.State.DISABLED
    instance.loaded_state = instance.state
    if created or instance.state != CallNotify.State.ACTIVE:
        return
    rows = EndpointHealth.objects.filter(pk=instance.pk)
    if not was_disabled:
        rows = rows.filter(disabled_at__isnull=False)  # an instance not read first: disabled by the engine?
    rows.update(disabled_at=None, disabled_reason="", failing_since=None, consecutive_failures=0)


# --- reading ---

def percentile(histogram: Sequence[int], p: float) -> int | None:
    """Upper bound (ms) of the bucket holding the p-th fraction of attempts; the slowest bucket
    answers the request timeout. None without attempts."""
    total = sum(histogram)
    if not total:
        return None
    wanted, seen = p * total, 0
    for index, n in enumerate(histogram):
        seen += n
        if seen >= wanted and n:
            return BUCKETS_MS[index] if index < len(BUCKETS_MS) else int(settings.CALLNOTIFY_REQUEST_TIMEOUT * 1000)
    return None


WINDOW_FIELDS = ("delivered", "failed", *BUCKET_FIELDS)


def _window(sums: Sequence[int | None]) -> dict[str, object]:
    """A window's figures from its sums of WINDOW_FIELDS (None: no attempts)."""
    if sums[0] is None:  # no per-minute row in the window (SUM of nothing): most endpoints of a page, most hours
        return {"delivered": 0, "failed": 0, "p50DurationMs": None, "p95DurationMs": None}
    histogram = [n or 0 for n in sums[2:]]
    return {"delivered": sums[0] or 0, "failed": sums[1] or 0,
            "p50DurationMs": percentile(histogram, 0.5), "p95DurationMs": percentile(histogram, 0.95)}


def window_figures(endpoint_ids: Sequence[str], since: datetime) -> dict[str, dict[str, object]]:
    """Per endpoint since `since`: delivered, failed, p50/p95 duration. One grouped query on the
    (endpoint, minute) key: at most 1,440 rows per endpoint for a day."""
    rows = (EndpointMinute.objects.filter(endpoint_id__in=list(endpoint_ids), minute__gte=minute_of(since))
            .values("endpoint_id").annotate(**{f"s_{f}": Sum(f) for f in WINDOW_FIELDS}).order_by())
    found = {row["endpoint_id"]: _window([row[f"s_{f}"] for f in WINDOW_FIELDS]) for row in rows}
    return {pk: found.get(pk) or _window([None] * len(WINDOW_FIELDS)) for pk in endpoint_ids}


HEALTH_COLUMNS = ("last_success_at", "last_failure_at", "consecutive_failures", "failing_since", "disabled_reason")


@cache
def _health_sql(vendor: str) -> str:
    """The page's health rows and both windows' sums, in one statement written once per process
    (built by the ORM it cost more to compile than to run): a health row per endpoint that has
    one (kind 0), then a row of sums per endpoint with attempts in the last day (kind 1). Only
    these two small tables are read, by their endpoint keys; an endpoint in neither has had no
    attempt (most of a page, most of the time), and the statement answers nothing for it."""
    h, m = EndpointHealth._meta.db_table, EndpointMinute._meta.db_table
    kept = [f"{EndpointHealth._meta.get_field(name).column}" for name in HEALTH_COLUMNS]
    hour = [f"SUM(CASE WHEN m.minute >= since.hour THEN m.{f} END)" for f in WINDOW_FIELDS]
    day = [f"SUM(m.{f})" for f in WINDOW_FIELDS]
    nothing = ", ".join(["NULL"] * len(kept))
    # The window starts and the ids are parameters once each (a CTE): 13 copies of the hour were 13 datetimes to send.
    return (f"WITH since AS (SELECT %s{_cast(vendor)} AS hour, %s{_cast(vendor)} AS day),"
            f" ids AS ({list_rows(vendor, 'id')})"
            f" SELECT endpoint_id, 0, {', '.join(kept)}, {', '.join(['NULL'] * 2 * len(WINDOW_FIELDS))} FROM {h}"
            f" WHERE endpoint_id IN (SELECT id FROM ids)"
            f" UNION ALL SELECT m.endpoint_id, 1, {nothing}, {', '.join(hour + day)} FROM {m} m CROSS JOIN since"
            f" WHERE m.endpoint_id IN (SELECT id FROM ids) AND m.minute >= since.day GROUP BY m.endpoint_id")


def _cast(vendor: str) -> str:
    return "::timestamptz" if vendor == "postgresql" else ""


_NO_SUMS = (None,) * len(WINDOW_FIELDS)


def _health(kept: Sequence[object] | None, sums: Sequence[object] | None,
            converters: Sequence[Sequence[Any]] = ()) -> dict[str, object]:
    """One endpoint's `health` from its health row and its sums (None: it has none)."""
    if kept is None:
        success = failure = failures = since = reason = None
    else:
        values = []
        for chain, value in zip(converters or [()] * len(HEALTH_COLUMNS), kept, strict=True):
            for convert in chain if value is not None else ():
                value = convert(value, None, connection)
            values.append(value)
        success, failure, failures, since, reason = values
    width = len(WINDOW_FIELDS)
    return {
        "lastHour": _window(sums[:width] if sums else _NO_SUMS),
        "lastDay": _window(sums[width:] if sums else _NO_SUMS),
        "lastSuccessAt": success,
        "lastFailureAt": failure,
        "consecutiveFailures": failures or 0,
        "failingSince": since,
        "disabledReason": reason or None,
    }


def health_of(endpoints: Sequence[CallNotify | str], now: datetime | None = None) -> dict[str, dict[str, object]]:
    """The API's `health` object for each endpoint (or endpoint id): one statement whatever their number."""
    now = now or timezone.now()
    ids = [e if isinstance(e, str) else e.pk for e in endpoints]
    if not ids:
        return {}
    adapt = connection.ops.adapt_datetimefield_value
    hour, day = adapt(minute_of(now - timedelta(hours=1))), adapt(minute_of(now - timedelta(days=1)))
    found: dict[str, list[Any]] = {}
    for pk, kind, *row in fetch_all(_health_sql(connection.vendor), [hour, day, list_param(ids)]):  # prepared on PostgreSQL
        both = found.setdefault(pk, [None, None])
        both[kind] = row[:len(HEALTH_COLUMNS)] if kind == 0 else row[len(HEALTH_COLUMNS):]
    converters = [connection.ops.get_db_converters(field.cached_col) + field.get_db_converters(connection)
                  for field in (EndpointHealth._meta.get_field(name) for name in HEALTH_COLUMNS)] if found else ()
    # An id with neither (no attempt yet; the admin's form for a new one) has no attempts.
    return {pk: _health(*found[pk], converters) if pk in found else no_attempts() for pk in ids}


def no_attempts() -> dict[str, object]:
    """The health of an endpoint that has had no attempt (one just made; most of a page)."""
    return {"lastHour": {"delivered": 0, "failed": 0, "p50DurationMs": None, "p95DurationMs": None},
            "lastDay": {"delivered": 0, "failed": 0, "p50DurationMs": None, "p95DurationMs": None},
            "lastSuccessAt": None, "lastFailureAt": None, "consecutiveFailures": 0, "failingSince": None,
            "disabledReason": None}


def failing(now: datetime) -> dict[str, float]:
    """Active endpoints whose every attempt has failed since their last success, and how long the
    longest such run has lasted (0: none): one statement over the health index's failing end."""
    figures = (EndpointHealth.objects.filter(consecutive_failures__gt=0, failing_since__isnull=False,
                                             endpoint__state=CallNotify.State.ACTIVE)
               .aggregate(n=Count("pk"), since=Min("failing_since")))
    since = figures["since"]
    return {"failingEndpoints": figures["n"],
            "longestFailingSeconds": max(0.0, (now - since).total_seconds()) if since else 0.0}


def prune(now: datetime | None = None) -> int:
    """Delete per-minute rows older than two days; answers how many."""
    cutoff = (now or timezone.now()) - KEEP
    deleted = EndpointMinute.objects.filter(minute__lt=cutoff).delete()[0]
    return deleted + prune_counts(cutoff)
