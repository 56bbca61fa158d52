"""Record call events and carry out their deliveries (docs/callevents.md §1, §5).

The database is the truth: an event and its deliveries are written in one transaction before
anything is sent, and a delivery is attempted only by whoever holds its lease. Queue messages
(Celery, or the in-process runner's wake-ups) are only hints that a delivery may be due, so a
lost or duplicated message can neither lose nor double a delivery; the sweep re-queues what
was due but forgotten. Functions take `now` so tests can drive the schedule with a clock.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Min
from django.utils import timezone

from accounts.models import Customer
from callnotify import dispatch, health, transports
from callnotify.formats import EventData, render
from callnotify.models import Attempt, CallEvent, CallNotify, Delivery
from callnotify.validators import parse_target
from telecomx.ids import new_id

logger = logging.getLogger("callnotify.delivery")

# Seconds to wait after attempt 1, 2, ... fails (each ±20 %); 7 attempts in all (docs/callevents.md §5).
RETRY_DELAYS = (5, 30, 120, 600, 1800, 3600)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
JITTER = 0.2
MAX_RETRY_AFTER = 3600


@dataclass(frozen=True)
class Recorded:
    event: CallEvent
    deliveries: int  # queued by this call; 0 when the event was already stored
    created: bool


def record_call_event(*, call_id: str, customer: Customer, **fields: object) -> Recorded:
    """Store the event with the next sequence of its call, and one delivery per matching endpoint.

    Idempotent on (call_id, state). The unique constraints decide races between concurrent
    posts of the same call; the loser re-reads and answers the winner's event or takes the next number.
    """
    for _ in range(5):
        known = dict(CallEvent.objects.filter(call_id=call_id).values_list("state", "sequence"))
        if fields["state"] in known:
            return Recorded(CallEvent.objects.get(call_id=call_id, state=fields["state"]), 0, False)
        try:
            with transaction.atomic():
                sequence = max(known.values(), default=0) + 1
                event = CallEvent.objects.create(call_id=call_id, customer=customer, sequence=sequence, **fields)
                deliveries = _create_deliveries(event, customer)
                transaction.on_commit(lambda: _dispatch_new(deliveries))
            return Recorded(event, len(deliveries), True)
        except IntegrityError:
            continue
    raise IntegrityError(f"could not store an event for call {call_id!r}")


def _busy_endpoints(endpoint_ids: list[str], now: datetime) -> set[str]:
    """Endpoints that already have their share of attempts in flight."""
    counts = (Delivery.objects.filter(endpoint_id__in=endpoint_ids, lease_until__gt=now).values("endpoint_id")
              .annotate(n=Count("id")).values_list("endpoint_id", "n"))
    return {pk for pk, n in counts if n >= settings.CALLNOTIFY_ENDPOINT_CONCURRENCY}


def _create_deliveries(event: CallEvent, customer: Customer) -> list[Delivery]:
    if customer.state != Customer.State.ACTIVE:
        return []  # stored, not delivered (docs/callevents.md §1)
    endpoints = list(CallNotify.objects.filter(
        customer=customer, state=CallNotify.State.ACTIVE, selection__in=[event.type, CallNotify.Selection.ALL]
    ).values_list("id", flat=True))
    now = timezone.now()
    # An endpoint already at its share (a slow or dead one) gets its new deliveries set aside
    # rather than queued: a message now would only use a worker to find that out.
    busy = _busy_endpoints(endpoints, now) if endpoints else set()
    rows = [
        Delivery(event=event, endpoint_id=pk, call_id=event.call_id, sequence=event.sequence, next_attempt_at=now,
                 deferred=pk in busy)
        for pk in endpoints
    ]
    return Delivery.objects.bulk_create(rows)


def _dispatch_new(deliveries: list[Delivery]) -> None:
    dispatch.enqueue([d.id for d in deliveries if not d.deferred])
    waiting = [d.endpoint_id for d in deliveries if d.deferred]
    if waiting:
        # Its attempts may all have ended before this commit, with nobody left to release ours.
        now = timezone.now()
        for endpoint_id in set(waiting) - _busy_endpoints(waiting, now):
            release_next(endpoint_id, now)


def event_data(event: CallEvent) -> EventData:
    return EventData(
        event_id=event.id, call_id=event.call_id, sequence=event.sequence, customer=event.customer_id,
        type=event.type, direction=event.direction, state=event.state, a_number=event.a_number,
        b_number=event.b_number, timestamp=event.timestamp, duration=event.duration, cause=event.cause,
        additional=dict(event.additional or {}),
    )


@dataclass(frozen=True)
class Job:
    """What one claimed attempt needs, read inside the claiming transaction."""

    delivery_id: str
    number: int
    endpoint_id: str
    url: str
    method: str
    secret: str
    event: EventData


def retry_delay(attempt: int, retry_after: float | None = None) -> float:
    """Seconds before the attempt after `attempt` (1-based): the schedule ±20 %, or the endpoint's
    Retry-After (at most 1 h) when that is longer. A shorter Retry-After never shortens the
    schedule: an endpoint answering `Retry-After: 2` would otherwise use all 7 attempts in seconds."""
    base = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS)) - 1]
    scheduled = base * random.uniform(1 - JITTER, 1 + JITTER)
    if retry_after is None:
        return scheduled
    return max(scheduled, min(retry_after, MAX_RETRY_AFTER))


def _lease() -> timedelta:
    return timedelta(seconds=settings.CALLNOTIFY_LEASE_SECONDS)


def _close(delivery: Delivery, state: str, now: datetime, error: str = "") -> None:
    delivery.state, delivery.finished_at, delivery.next_attempt_at = state, now, None
    delivery.lease_until, delivery.deferred = None, False
    if error:
        delivery.last_error = error


def _busy(endpoint_id: str, now: datetime, exclude: str) -> int:
    return Delivery.objects.filter(endpoint_id=endpoint_id, lease_until__gt=now).exclude(pk=exclude).count()


def _earlier_pending(d: Delivery) -> bool:
    return Delivery.objects.filter(endpoint_id=d.endpoint_id, call_id=d.call_id, sequence__lt=d.sequence,
                                   state=Delivery.State.PENDING).exists()


def _must_wait(d: Delivery, now: datetime) -> bool:
    """An earlier event of the call goes first (docs/callevents.md §5), and an endpoint gets at most its share of workers."""
    return _earlier_pending(d) or _busy(d.endpoint_id, now, d.pk) >= settings.CALLNOTIFY_ENDPOINT_CONCURRENCY


def claim(delivery_id: str, now: datetime) -> Job | None:
    """Take the lease on a due delivery, or None (not due, taken, finished, waiting its turn)."""
    with transaction.atomic():
        d = (Delivery.objects.select_for_update(of=("self",)).select_related("event", "endpoint__customer")
             .filter(pk=delivery_id).first())
        if d is None or d.state != Delivery.State.PENDING or (d.lease_until and d.lease_until > now):
            return None
        if d.next_attempt_at and d.next_attempt_at > now:
            return None
        if d.lease_until is not None:  # the worker holding it died mid-attempt: it may have been received
            Attempt.objects.create(delivery=d, number=d.attempts, started_at=d.lease_until - _lease(),
                                   outcome=Attempt.Outcome.INTERRUPTED, error="worker lost during the attempt")
            d.lease_until = None
        endpoint = d.endpoint
        if d.attempts >= MAX_ATTEMPTS:
            _close(d, Delivery.State.FAILED, now, f"gave up after {d.attempts} attempts")
        elif endpoint.state != CallNotify.State.ACTIVE:
            _close(d, Delivery.State.FAILED, now, "endpoint is disabled")
        elif endpoint.customer.state != Customer.State.ACTIVE:
            _close(d, Delivery.State.FAILED, now, "customer is not active")
        elif _must_wait(d, now):
            d.deferred = True  # whoever finishes the blocking attempt queues it again (release_next)
        else:
            d.attempts += 1
            d.lease_until, d.deferred = now + _lease(), False
            d.save(update_fields=["attempts", "lease_until", "deferred"])
            return Job(d.pk, d.attempts, d.endpoint_id, endpoint.url, endpoint.method, endpoint.secret, event_data(d.event))
        d.save()
    if d.state != Delivery.State.PENDING:
        release_next(d.endpoint_id, now)
    elif not _must_wait(d, now):
        # The blocking attempt finished between our check and our commit, and so may have looked
        # for deferred deliveries before ours was marked: queue it ourselves rather than wait for the sweep.
        _requeue([d.pk])
    return None


def perform(job: Job, *, timeout: float | None = None) -> transports.SendResult:
    """Render and send; a bug in rendering is a permanent failure of this delivery, not a crashed worker."""
    try:
        target = parse_target(job.url)
        rendered = render(job.event, job.method, target.query)
    except Exception as exc:  # noqa: BLE001 - recorded on the delivery, with the reason
        logger.exception("cannot render delivery %s", job.delivery_id)
        return transports.SendResult(False, True, error=f"cannot render: {type(exc).__name__}")
    return transports.send(target, rendered, event_id=job.event.event_id, secret=job.secret, timeout=timeout)


def finish(job: Job, result: transports.SendResult, started: datetime) -> str:
    """Record the attempt and move the delivery on: DELIVERED, FAILED, or PENDING at the next time."""
    ended = started + timedelta(milliseconds=result.duration_ms)
    if result.delivered:
        outcome = Attempt.Outcome.DELIVERED
    elif result.permanent or job.number >= MAX_ATTEMPTS:
        outcome = Attempt.Outcome.FAILED
    else:
        outcome = Attempt.Outcome.RETRY
    error = (result.error or "")[:200]
    changes: dict[str, object] = {"last_status": result.status, "last_error": error, "lease_until": None}
    if outcome == Attempt.Outcome.RETRY:
        changes["next_attempt_at"] = started + timedelta(seconds=retry_delay(job.number, result.retry_after))
    else:
        state = Delivery.State.DELIVERED if result.delivered else Delivery.State.FAILED
        changes.update(state=state, finished_at=ended, next_attempt_at=None, deferred=False)
    with transaction.atomic():
        Attempt.objects.create(delivery_id=job.delivery_id, number=job.number, started_at=started,
                               duration_ms=result.duration_ms, outcome=outcome, status=result.status, error=error)
        # Only while our lease is the current one: if it ran out and another worker took over, theirs counts.
        if not Delivery.objects.filter(pk=job.delivery_id, state=Delivery.State.PENDING, attempts=job.number).update(**changes):
            return "superseded"
        health.record([health.Outcome(job.endpoint_id, job.event.customer, outcome, result.duration_ms, ended)])
        if result.status == 410:  # Gone: the customer removed the endpoint; stop sending to it
            CallNotify.objects.filter(pk=job.endpoint_id).update(state=CallNotify.State.DISABLED)
    if outcome == Attempt.Outcome.RETRY:
        dispatch.enqueue([job.delivery_id], at=changes["next_attempt_at"])  # type: ignore[arg-type]
    release_next(job.endpoint_id, ended)
    return outcome.lower()


def _requeue(ids: list[str]) -> None:
    # Clearing the flag first means two finishing workers do not both queue the same one.
    ids = [pk for pk in ids if Delivery.objects.filter(pk=pk, deferred=True).update(deferred=False)]
    if ids:
        dispatch.enqueue(ids)


def first_of_their_call(rows: list[tuple[str, str, str, int]]) -> list[tuple[str, str, str, int]]:
    """Keep the (id, endpoint, call, sequence) rows that no earlier PENDING delivery of their call waits before.

    Two plain indexed queries instead of a correlated NOT EXISTS, whose plan can be a full scan
    per row on a table the planner has no statistics for yet.
    """
    calls = {call_id for _, _, call_id, _ in rows}
    if not calls:
        return []
    earliest = {
        (endpoint_id, call_id): first
        for endpoint_id, call_id, first in Delivery.objects.filter(state=Delivery.State.PENDING, call_id__in=calls)
        .values_list("endpoint_id", "call_id").annotate(first=Min("sequence")).order_by()
    }
    return [row for row in rows if earliest.get((row[1], row[2]), row[3]) >= row[3]]


def release_next(endpoint_id: str, now: datetime) -> None:
    """An attempt to the endpoint ended: queue again the oldest deliveries that were deferred for it.

    Two: the slot just freed, and the finished delivery's successor in its call if that was waiting.
    """
    rows = list(Delivery.objects.filter(endpoint_id=endpoint_id, state=Delivery.State.PENDING, deferred=True,
                                        next_attempt_at__lte=now)
                .order_by("next_attempt_at", "sequence").values_list("id", "endpoint_id", "call_id", "sequence")[:20])
    ids = [row[0] for row in first_of_their_call(rows)[:2]]
    if ids:
        _requeue(ids)


def attempt_delivery(delivery_id: str, *, now: datetime | None = None) -> str:
    """One attempt of one delivery if it is due and its turn; says what happened."""
    now = now or timezone.now()
    job = claim(delivery_id, now)
    if job is None:
        return "skipped"
    return finish(job, perform(job), now)


def send_test_event(endpoint: CallNotify) -> transports.SendResult:
    """A sample RINGING event to `endpoint` now, outside the queue; nothing is stored (docs/callevents.md §5)."""
    sample = EventData(
        event_id=new_id(), call_id=f"test-{new_id()}", sequence=1, customer=endpoint.customer_id,
        type=CallEvent.Type.MVNO if endpoint.selection == CallNotify.Selection.MVNO else CallEvent.Type.SIP,
        direction=CallEvent.Direction.INBOUND, state=CallEvent.State.RINGING, a_number="+4512345678",
        b_number="+4570305050", timestamp=timezone.now(),
    )
    # A short deadline of its own: test sends run in web threads (callnotify/testsend.py).
    job = Job("test", 1, endpoint.id, endpoint.url, endpoint.method, endpoint.secret, sample)
    return perform(job, timeout=settings.CALLNOTIFY_TEST_TIMEOUT)
