"""Every state transition of a delivery (docs/callevents.md §5, §6): claim a batch, send it, record it.

The database is the truth. A batch is claimed in one short transaction, which sets a lease on
each delivery and counts the attempt. Claims share a batch fairly: customers in turn, then each
customer's endpoints in turn, so a customer with a huge backlog delays another's fresh deliveries
by one batch at most. Claimers never wait for each other: on PostgreSQL each holds the endpoints
it claims for with `FOR NO KEY UPDATE SKIP LOCKED` and others take other endpoints (SQLite has
one writer); the batch is sent concurrently, outside any transaction;
its outcomes are written by `record`, the one place outcomes are written, in one transaction
with bulk statements. Queue messages and wake-ups (hints.py) are only hints, so a lost or
duplicated one can neither lose nor double a delivery; a worker that dies mid-batch leaves
leases that run out, and the next claim logs those attempts INTERRUPTED and tries again.

Rules the claim keeps:
- one call's events reach an endpoint in sequence order: a delivery is claimed only when no
  earlier delivery of its call to that endpoint is PENDING;
- an endpoint is in at most one batch at a time, and a batch sends to one endpoint over at most
  CALLNOTIFY_ENDPOINT_CONCURRENCY connections at once (each carrying its share one after the
  other, kept alive): one slow endpoint never holds more than that;
- a slow endpoint does not hold the worker either: the batch is recorded as soon as its sends
  end, or once the other lanes have had twice as long as the first one took (at least
  MIN_WAIT, at most CALLNOTIFY_BATCH_WAIT seconds); attempts still running then are recorded
  by a background thread of the same process when they end (their leases keep the endpoint out
  of other batches meanwhile), and the worker moves on to the next batch.

Functions take `now` so tests can drive the schedule with a clock.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from accounts.models import Customer
from callnotify import endpoint_health, hints, transports
from callnotify.formats import EventData, render
from callnotify.models import Attempt, CallEvent, CallNotify, Delivery
from callnotify.validators import parse_target
from core import metrics
from core.db import insert_rows
from core.ids import new_id

logger = logging.getLogger("callnotify.delivery")

# Seconds to wait after attempt 1, 2, ... fails (each ±20 %); 7 attempts in all (docs/callevents.md §5).
RETRY_DELAYS = (5, 30, 120, 600, 1800, 3600)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
JITTER = 0.2
MAX_RETRY_AFTER = 3600
MIN_WAIT = 0.05  # seconds a batch waits for its other lanes once the first has ended
SQLITE_BRANCHES = 400  # endpoints one claim takes on SQLite (its compound SELECT holds 500 parts)


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


def event_data(event: CallEvent) -> EventData:
    return EventData(
        event_id=event.id, call_id=event.call_id, sequence=event.sequence, customer=event.customer_id,
        type=event.type, direction=event.direction, state=event.state, a_number=event.a_number,
        b_number=event.b_number, timestamp=event.timestamp, duration=event.duration, cause=event.cause,
        additional=dict(event.additional or {}),
    )


@dataclass(frozen=True)
class Job:
    """One claimed attempt: what sending needs, read in the claiming transaction."""

    delivery_id: str
    number: int
    endpoint_id: str
    url: str
    method: str
    secret: str
    event: EventData
    close: str = ""  # set: end the delivery FAILED with this reason, without sending
    received_at: datetime | None = None  # when the event arrived (time from event to delivery)
    request_id: str = ""  # the X-Request-ID that brought the event in, for the log lines


@dataclass
class Outcome:
    job: Job
    result: transports.SendResult | None  # None: not attempted (released, or closed without sending)
    started: datetime


@dataclass
class Batch:
    now: datetime
    lease_until: datetime
    jobs: list[Job] = field(default_factory=list)
    left: bool = False  # endpoints with due work were left to another claim (CALLNOTIFY_CLAIM_SPLIT)


# --- claim ---------------------------------------------------------------------------------

CANDIDATE_FIELDS = (
    "id", "attempts", "lease_until", "endpoint_id", "endpoint__url", "endpoint__method", "endpoint__secret",
    "endpoint__state", "endpoint__customer__state", "event_id", "event__call_id", "event__sequence", "event__customer_id",
    "event__type", "event__direction", "event__state", "event__a_number", "event__b_number", "event__timestamp",
    "event__duration", "event__cause", "event__additional", "event__created_at", "event__request_id",
)


@dataclass(frozen=True)
class _Candidate:
    id: str
    attempts: int
    lease_until: datetime | None
    job: Job


def _pending_endpoints(now: datetime, only: list[str] | None) -> list[tuple[str, str]]:
    """(endpoint, customer) of every endpoint with a due PENDING delivery and no batch sending to it,
    oldest due first; only those of customers with fewer than CALLNOTIFY_CLAIM_SPLIT batches
    sending, unless there are none. A skip scan of the PENDING index: one probe per endpoint with pending
    deliveries, whatever their number."""
    q = connection.ops.quote_name
    d, c = q(Delivery._meta.db_table), q(CallNotify._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    pending = f"{q('state')} = '{Delivery.State.PENDING}'"  # a literal: the partial indexes' predicate
    once = " OFFSET 0" if connection.vendor == "postgresql" else ""  # `due` computed once, not once per use
    params: list[object] = []
    narrow = ""
    if only is not None:
        narrow = f" AND x.{q('id')} IN ({', '.join(['%s'] * len(only))})"
        params += only
    # Each probe is "the first row in index order" (ORDER BY ... LIMIT 1), not min(): with the
    # statistics of a quiet hour every estimate is one row, and PostgreSQL then read min()'s
    # whole index range as an aggregate.
    sql = (
        f"WITH RECURSIVE pending(endpoint_id) AS ("
        f" SELECT (SELECT x.{q('endpoint_id')} FROM {d} x WHERE x.{pending}{narrow} ORDER BY x.{q('endpoint_id')} LIMIT 1)"
        f" UNION ALL SELECT (SELECT x.{q('endpoint_id')} FROM {d} x WHERE x.{pending}{narrow}"
        f" AND x.{q('endpoint_id')} > p.endpoint_id ORDER BY x.{q('endpoint_id')} LIMIT 1)"
        f" FROM pending p WHERE p.endpoint_id IS NOT NULL),"
        # What batches are sending: read once, used three times (busy customers, customers sending, endpoints held).
        f" leased(endpoint_id, customer_id, lease_until) AS (SELECT f.{q('endpoint_id')}, n.{q('customer_id')},"
        f" f.{q('lease_until')} FROM {d} f JOIN {c} n ON n.{q('id')} = f.{q('endpoint_id')} WHERE f.{q('lease_until')} > %s)"
        f" SELECT e.endpoint_id, c.{q('customer_id')}, c.{q('customer_id')} IN (SELECT customer_id FROM leased"
        f" GROUP BY customer_id HAVING count(DISTINCT lease_until) >= %s),"
        f" (SELECT count(DISTINCT customer_id) FROM leased)"
        f" FROM (SELECT p.endpoint_id, (SELECT x.{q('next_attempt_at')}"
        f" FROM {d} x WHERE x.{q('endpoint_id')} = p.endpoint_id AND x.{pending}"
        f" AND x.{q('next_attempt_at')} IS NOT NULL{narrow} ORDER BY x.{q('next_attempt_at')} LIMIT 1) AS due"
        f" FROM pending p WHERE p.endpoint_id IS NOT NULL{once}) e JOIN {c} c ON c.{q('id')} = e.endpoint_id"
        f" WHERE e.due <= %s AND e.endpoint_id NOT IN (SELECT endpoint_id FROM leased)"
        f" ORDER BY e.due, e.endpoint_id"
    )
    params = [*params * 2, adapt(now), max(1, settings.CALLNOTIFY_CLAIM_SPLIT), *params, adapt(now)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    # A customer with CLAIM_SPLIT batches sending already waits for one of them to end while
    # another customer has work due or a batch sending: its many endpoints filled every worker
    # process, and the other customer's one batch waited for CPU. Alone, it takes every process.
    # (Asked for given deliveries, as the admin's replay does: those, whoever else is waiting.)
    busy = {customer for _, customer, at_limit, _ in rows if at_limit}
    others = [(endpoint, customer) for endpoint, customer, at_limit, _ in rows if not at_limit]
    if only is None and (others or (rows and rows[0][3] > len(busy))):
        return others
    return [(endpoint, customer) for endpoint, customer, _, _ in rows]


def share(endpoints: list[tuple[str, str]], slots: int, split: int = 1) -> dict[str, int]:
    """A batch's slots shared out: customers in turn (the one waiting longest first), and each
    customer's turns among its endpoints in turn; with `split`, among the first 1/split of each
    customer's endpoints only (at least one). Answers endpoint -> slots."""
    customers: dict[str, list[str]] = {}
    for endpoint, customer in endpoints:
        customers.setdefault(customer, []).append(endpoint)
    if split > 1:
        customers = {customer: theirs[:-(-len(theirs) // split)] for customer, theirs in customers.items()}
    quota: dict[str, int] = defaultdict(int)
    turns = dict.fromkeys(customers, 0)
    while slots > 0 and customers:
        for customer, theirs in customers.items():
            if slots == 0:
                break
            quota[theirs[turns[customer] % len(theirs)]] += 1
            turns[customer] += 1
            slots -= 1
    return dict(quota)


def _lock_endpoints(ids: list[str]) -> list[str]:
    """PostgreSQL: hold the endpoints for this claim; those another claimer holds are skipped, so
    concurrent claimers take disjoint endpoints and never wait for each other (no global lock).
    NO KEY UPDATE does not conflict with the key-share locks ingestion takes inserting deliveries."""
    if connection.vendor != "postgresql":
        return ids  # SQLite: the claim's IMMEDIATE transaction holds the only write lock
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {q('id')} FROM {q(CallNotify._meta.db_table)} WHERE {q('id')} = ANY(%s)"
                       f" ORDER BY {q('id')} FOR NO KEY UPDATE SKIP LOCKED", [ids])
        return [row[0] for row in cursor.fetchall()]


def _picks(quota: dict[str, int], now: datetime, only: list[str] | None) -> RawSQL:
    """Ids of the deliveries to claim: per held endpoint, its earliest due deliveries up to its
    slots, each the earliest PENDING of its call at that endpoint, and none while a batch is still
    sending to the endpoint (rechecked here, after the endpoint is held). Every part is an index
    probe: the cost follows the batch, not the backlog."""
    q = connection.ops.quote_name
    d = q(Delivery._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    pending = f"{q('state')} = '{Delivery.State.PENDING}'"
    narrow = f" AND d.{q('id')} IN ({', '.join(['%s'] * len(only))})" if only is not None else ""
    if connection.vendor == "postgresql":
        # One statement planned once, whatever the number of endpoints: each held endpoint's slots
        # taken by a LATERAL subquery.
        source, endpoint, slots = "unnest(%s::text[], %s::int[]) AS q(endpoint_id, slots) CROSS JOIN LATERAL (", "q.endpoint_id", "q.slots"
    else:
        source, endpoint, slots = "", "%s", "%s"  # SQLite: one branch per endpoint, joined by UNION ALL
    branch = (
        f"SELECT d.{q('id')}, d.{q('endpoint_id')}, d.{q('call_id')}, d.{q('sequence')}"
        f" FROM {d} d WHERE d.{q('endpoint_id')} = {endpoint} AND d.{pending}"
        f" AND d.{q('next_attempt_at')} <= %s AND (d.{q('lease_until')} IS NULL OR d.{q('lease_until')} <= %s){narrow}"
        f" AND NOT EXISTS (SELECT 1 FROM {d} f WHERE f.{q('endpoint_id')} = {endpoint} AND f.{q('lease_until')} > %s)"
        f" AND d.{q('sequence')} = (SELECT e.{q('sequence')} FROM {d} e WHERE e.{q('endpoint_id')} = d.{q('endpoint_id')}"
        f" AND e.{q('call_id')} = d.{q('call_id')} AND e.{pending} ORDER BY e.{q('sequence')} LIMIT 1)"
        f" ORDER BY d.{q('next_attempt_at')} LIMIT {slots}"
    )
    if source:
        picked = f"SELECT b.*, q.slots FROM {source}{branch}) b"
        params: list[object] = [list(quota), list(quota.values()), adapt(now), adapt(now), *(only or []), adapt(now)]
    else:
        picked = " UNION ALL ".join([f"SELECT b.*, %s AS slots FROM ({branch}) b"] * len(quota))
        params = []
        for name, count in quota.items():
            params += [count, name, adapt(now), adapt(now), *(only or []), name, adapt(now), count]
    if only is not None:  # the deliveries asked for, and no others
        return RawSQL(f"SELECT {q('id')} FROM ({picked}) p", params)
    # At an endpoint whose picks left room in its slots, each picked delivery brings the later
    # states of its call there that are due and unheld, as far as the first that is not: they go
    # in the same batch, in the same lane, in order (_Endpoint.lanes), so a call whose states wait
    # together is sent in one claim, not one claim (and one batch's record) per state.
    # _within_slots cuts what came beyond the slots.
    # n is reached by the (endpoint, call, sequence) index only: its own due check is the
    # NOT EXISTS's (g up to n itself), so no plan can read an endpoint's due backlog through the
    # due index for it (the probe that once read the whole backlog per candidate).
    later = (
        f"SELECT n.{q('id')} FROM picked p JOIN {d} n ON n.{q('endpoint_id')} = p.{q('endpoint_id')}"
        f" AND n.{q('call_id')} = p.{q('call_id')} AND n.{pending} AND n.{q('sequence')} > p.{q('sequence')}"
        f" WHERE p.slots > (SELECT COUNT(*) FROM picked c WHERE c.{q('endpoint_id')} = p.{q('endpoint_id')})"
        f" AND NOT EXISTS (SELECT 1 FROM {d} g WHERE g.{q('endpoint_id')} = p.{q('endpoint_id')}"
        f" AND g.{q('call_id')} = p.{q('call_id')} AND g.{pending} AND g.{q('sequence')} > p.{q('sequence')}"
        f" AND g.{q('sequence')} <= n.{q('sequence')} AND (g.{q('next_attempt_at')} IS NULL"
        f" OR g.{q('next_attempt_at')} > %s OR g.{q('lease_until')} > %s))"
    )
    return RawSQL(f"WITH picked AS ({picked}) SELECT {q('id')} FROM picked UNION ALL {later}",
                  [*params, adapt(now), adapt(now)])


def _candidates(now: datetime, scan: int, only: list[str] | None, batch: Batch) -> list[_Candidate]:
    """Due deliveries nobody holds, each the earliest PENDING of its call at its endpoint, on endpoints
    no batch is sending to, shared fairly among customers, then among their endpoints: with
    everything sending needs (plain rows, no model objects). A claim takes at most 1/SPLIT of
    each customer's endpoints (at least one): a few endpoints with deep backlogs are then sent to
    by SPLIT processes side by side, where one batch holding them all kept one process's CPU the
    limit."""
    endpoints = _pending_endpoints(now, only)
    if not endpoints:
        return []
    split = max(1, settings.CALLNOTIFY_CLAIM_SPLIT) if only is None else 1
    quota = share(endpoints, scan, split)
    batch.left = len(quota) < len(endpoints) and len(quota) < scan
    if connection.vendor != "postgresql":  # SQLite joins one branch per endpoint: at most 500 in one SELECT
        quota = dict(list(quota.items())[:SQLITE_BRANCHES])
    held = set(_lock_endpoints(list(quota)))
    quota = {endpoint: slots for endpoint, slots in quota.items() if endpoint in held}
    if not quota:
        return []
    rows = Delivery.objects.filter(pk__in=_picks(quota, now, only))
    found = []
    for (pk, attempts, lease_until, endpoint_id, url, method, secret, endpoint_state, customer_state, event_id, call_id,
         sequence, customer_id, type_, direction, state, a_number, b_number, timestamp, duration, cause, additional,
         received_at, request_id) in (
        rows.order_by("next_attempt_at").values_list(*CANDIDATE_FIELDS)
    ):
        event = EventData(event_id=event_id, call_id=call_id, sequence=sequence, customer=customer_id, type=type_,
                          direction=direction, state=state, a_number=a_number, b_number=b_number, timestamp=timestamp,
                          duration=duration, cause=cause, additional=dict(additional or {}))
        number = attempts + 1
        close = ""
        if number > MAX_ATTEMPTS:
            close = f"gave up after {attempts} attempts"
        elif endpoint_state != CallNotify.State.ACTIVE:
            close = "endpoint is disabled"
        elif customer_state != Customer.State.ACTIVE:
            close = "customer is not active"
        found.append(_Candidate(pk, attempts, lease_until, Job(pk, number, endpoint_id, url, method, secret, event, close,
                                                               received_at, request_id)))
    return _within_slots(found, quota)


def _within_slots(found: list[_Candidate], quota: dict[str, int]) -> list[_Candidate]:
    """At most each endpoint's slots: every pick (a call's first waiting state) first, in due
    order, then the calls' later states in the room left, each call's cut from its end (so a
    call's states in a batch always start at its earliest waiting one)."""
    chains: dict[tuple[str, str], list[_Candidate]] = {}
    for candidate in found:  # in due order
        chains.setdefault((candidate.job.endpoint_id, candidate.job.event.call_id), []).append(candidate)
    for chain in chains.values():
        chain.sort(key=lambda c: c.job.event.sequence)
    order = {id(candidate): index for index, candidate in enumerate(found)}
    keys = sorted(chains, key=lambda key: order[id(chains[key][0])])  # by when each call's pick is due
    used: dict[str, int] = defaultdict(int)
    taken: dict[tuple[str, str], int] = {}
    for key in keys:  # the picks
        if used[key[0]] < quota[key[0]]:
            used[key[0]] += 1
            taken[key] = 1
    for key in keys:  # the later states, in the room the picks left
        if key in taken:
            more = min(len(chains[key]) - 1, quota[key[0]] - used[key[0]])
            used[key[0]] += more
            taken[key] += more
    return [candidate for key in keys if key in taken for candidate in chains[key][: taken[key]]]


def claim(now: datetime | None = None, *, limit: int | None = None, only: list[str] | None = None) -> Batch:
    """Lease a batch of due deliveries (at most `limit`; only those in `only` if given): one transaction,
    4 statements on PostgreSQL, 3 on SQLite (one more when a lease ran out and its interrupted
    attempts are logged)."""
    now = now or timezone.now()
    limit = limit or settings.CALLNOTIFY_BATCH_SIZE
    batch = Batch(now, now + _lease())
    with transaction.atomic():
        candidates = _candidates(now, limit, only, batch)
        if not candidates:
            return batch
        claimed = _lease_rows([c.id for c in candidates], now, batch.lease_until)
        interrupted = []
        for c in candidates:
            if c.id not in claimed:
                continue
            if c.lease_until is not None:  # the batch holding it died mid-attempt: it may have been received
                interrupted.append(_attempt_row(c.id, c.attempts, c.lease_until - _lease(), 0, Attempt.Outcome.INTERRUPTED,
                                                None, "worker lost during the attempt"))
            batch.jobs.append(c.job)
        if interrupted:
            insert_rows(Attempt._meta.db_table, ATTEMPT_COLUMNS, interrupted)
            transaction.on_commit(lambda: _count_interrupted([c.job for c in candidates if c.id in claimed and c.lease_until]))
    return batch


ATTEMPT_COLUMNS = ("delivery_id", "number", "started_at", "duration_ms", "outcome", "status", "error")


def _attempt_row(delivery_id: str, number: int, started_at: datetime, duration_ms: int, outcome: str, status: int | None,
                 error: str) -> tuple:
    """An attempt as a plain row (core.db.insert_rows): the log of a batch without a model object each."""
    return (delivery_id, number, started_at, duration_ms, str(outcome), status, error)


def _count_interrupted(jobs: list[Job]) -> None:
    try:
        for job in jobs:
            metrics.DELIVERY_ATTEMPTS.labels(Attempt.Outcome.INTERRUPTED, job.method, job.url.split(":", 1)[0].lower()).inc()
    except Exception:  # noqa: BLE001 - counting never fails a claim
        logger.warning("could not count interrupted attempts", exc_info=True)
    for job in jobs:
        logger.warning("delivery attempt %d: INTERRUPTED (its worker was lost)", job.number - 1, extra={
            "requestId": job.request_id or None, "deliveryId": job.delivery_id, "eventId": job.event.event_id,
            "endpointId": job.endpoint_id, "attempt": job.number - 1, "outcome": Attempt.Outcome.INTERRUPTED})


def _lease_rows(ids: list[str], now: datetime, lease_until: datetime) -> set[str]:
    """One UPDATE ... RETURNING: lease and count the attempt of those still free. Found by primary
    key only (`IS TRUE` keeps the state index out: without statistics after a burst, PostgreSQL
    combined it with the key and read every PENDING row)."""
    q = connection.ops.quote_name
    table = q(Delivery._meta.db_table)
    marks = ", ".join(["%s"] * len(ids))
    adapt = connection.ops.adapt_datetimefield_value
    sql = (f"UPDATE {table} SET {q('attempts')} = {q('attempts')} + 1, {q('lease_until')} = %s"
           f" WHERE {q('id')} IN ({marks}) AND ({q('state')} = %s) IS TRUE"
           f" AND ({q('lease_until')} IS NULL OR {q('lease_until')} <= %s) RETURNING {q('id')}")
    with connection.cursor() as cursor:
        cursor.execute(sql, [adapt(lease_until), *ids, Delivery.State.PENDING, adapt(now)])
        return {row[0] for row in cursor.fetchall()}


# --- send ----------------------------------------------------------------------------------

def perform(job: Job, *, timeout: float | None = None) -> transports.SendResult:
    """Render and send; a bug in rendering is a permanent failure of this delivery, not a crashed worker."""
    try:
        target = parse_target(job.url)
        rendered = render(job.event, job.method, target.query)
    except Exception as exc:  # noqa: BLE001 - recorded on the delivery, with the reason
        logger.exception("cannot render delivery %s", job.delivery_id)
        return transports.SendResult(False, True, error=f"cannot render: {type(exc).__name__}")
    return transports.send(target, rendered, event_id=job.event.event_id, secret=job.secret, timeout=timeout)


def _unreachable(result: transports.SendResult) -> bool:
    """No answer at all (timeout, refused, reset): the endpoint's other deliveries in this batch wait."""
    return not result.delivered and not result.permanent and result.status is None


class _Endpoint:
    """One endpoint's share of a batch: at most CALLNOTIFY_ENDPOINT_CONCURRENCY lanes, each one connection."""

    def __init__(self, jobs: list[Job], batch: Batch, clock: float) -> None:
        self.jobs = jobs
        self.batch = batch
        self.clock = clock  # monotonic time matching batch.now
        self.stop = threading.Event()
        lease = settings.CALLNOTIFY_LEASE_SECONDS
        # Start no attempt that could still be running when the lease runs out.
        self.last_start = clock + max(lease - settings.CALLNOTIFY_REQUEST_TIMEOUT - 1, lease / 2)

    def lanes(self) -> list[list[Job]]:
        """The jobs in at most CALLNOTIFY_ENDPOINT_CONCURRENCY lanes; a call's jobs in one lane, in
        the order of its states (a claim takes a call's waiting states together)."""
        calls: dict[str, list[Job]] = defaultdict(list)
        for job in self.jobs:
            calls[job.event.call_id].append(job)
        count = max(1, min(settings.CALLNOTIFY_ENDPOINT_CONCURRENCY, len(calls)))
        lanes: list[list[Job]] = [[] for _ in range(count)]
        for i, jobs in enumerate(calls.values()):
            lanes[i % count].extend(sorted(jobs, key=lambda job: job.event.sequence))
        return lanes

    def run_lane(self, jobs: list[Job]) -> list[Outcome]:
        outcomes = []
        held: set[str] = set()  # calls whose earlier state was not delivered: their later states wait
        for job in jobs:
            offset = time.monotonic() - self.clock
            started = self.batch.now + timedelta(seconds=offset) if outcomes else self.batch.now
            if job.event.call_id in held:
                outcomes.append(Outcome(job, None, started))  # released unattempted, still PENDING
                continue
            if job.close or self.stop.is_set() or time.monotonic() > self.last_start:
                outcomes.append(Outcome(job, None, started))
                held.add(job.event.call_id)  # (a closed state ends FAILED when recorded: the next goes then)
                continue
            result = perform(job)
            outcomes.append(Outcome(job, result, started))
            if not result.delivered:
                held.add(job.event.call_id)
            if _unreachable(result):
                self.stop.set()
        return outcomes


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_pool_pid = 0
_background: set[threading.Thread] = set()


def _senders() -> ThreadPoolExecutor:
    """This process's sending threads (made again after a fork)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(settings.CALLNOTIFY_THREADS, thread_name_prefix="callnotify-send")
            _pool_pid = os.getpid()
        return _pool


def send(batch: Batch) -> list[tuple[_Endpoint, list[Future]]]:
    """Start sending the batch: per endpoint, its lanes in the sending threads."""
    by_endpoint: dict[str, list[Job]] = defaultdict(list)
    for job in batch.jobs:
        by_endpoint[job.endpoint_id].append(job)
    clock = time.monotonic()
    pool = _senders()
    started = []
    # Longest lanes first: an endpoint with 50 deliveries in the batch is not queued for a sending
    # thread behind a hundred endpoints with one each (the batch ends with its longest lane).
    for jobs in sorted(by_endpoint.values(), key=len, reverse=True):
        group = _Endpoint(jobs, batch, clock)
        started.append((group, [pool.submit(group.run_lane, lane) for lane in group.lanes()]))
    return started


def _outcomes(lanes: list[Future]) -> list[Outcome]:
    return [outcome for future in lanes for outcome in future.result()]


# --- record --------------------------------------------------------------------------------

def record(batch: Batch, outcomes: list[Outcome]) -> dict[str, str]:
    """THE place where outcomes are written: the attempts, each delivery's new state, 410 disabling.

    One transaction, 3 statements (5 with a 410) plus endpoint health's (endpoint_health.record), however many outcomes. Only deliveries still
    under this batch's lease are moved on: if a lease ran out and another worker took over,
    theirs counts (the attempt is logged all the same). Answers delivery id -> what happened.
    """
    attempts: list[tuple] = []
    changes: dict[str, dict[str, object]] = {}
    said: dict[str, str] = {}
    gone: set[str] = set()
    health_rows: dict[str, endpoint_health.Outcome] = {}  # endpoint health (callnotify/endpoint_health.py), for attempts that counted
    done: list[tuple[Job, str, transports.SendResult, datetime]] = []  # attempts made, for the metrics and the log
    for o in outcomes:
        job, result = o.job, o.result
        if result is None:
            if job.close:  # ended without sending; the attempt counted by the claim did not happen
                changes[job.delivery_id] = {"state": Delivery.State.FAILED, "finished_at": batch.now, "next_attempt_at": None,
                                            "last_error": job.close, "attempts": job.number - 1}
            else:  # released unattempted: the endpoint stopped answering, or the lease was running out
                changes[job.delivery_id] = {"attempts": job.number - 1}
            said[job.delivery_id] = "skipped"
            continue
        ended = o.started + timedelta(milliseconds=result.duration_ms)
        if result.delivered:
            outcome = Attempt.Outcome.DELIVERED
        elif result.permanent or job.number >= MAX_ATTEMPTS:
            outcome = Attempt.Outcome.FAILED
        else:
            outcome = Attempt.Outcome.RETRY
        error = (result.error or "")[:200]
        done.append((job, outcome.value, result, ended))
        attempts.append(_attempt_row(job.delivery_id, job.number, o.started, result.duration_ms, outcome, result.status, error))
        health_rows[job.delivery_id] = endpoint_health.Outcome(job.endpoint_id, None, outcome.value, result.duration_ms, ended)
        change: dict[str, object] = {"last_status": result.status, "last_error": error}
        if outcome == Attempt.Outcome.RETRY:
            change["next_attempt_at"] = o.started + timedelta(seconds=retry_delay(job.number, result.retry_after))
        else:
            change.update(state=outcome.value, finished_at=ended, next_attempt_at=None)
        changes[job.delivery_id] = change
        said[job.delivery_id] = outcome.lower()
        if result.status == 410:  # Gone: the customer removed the endpoint; stop sending to it
            gone.add(job.endpoint_id)
    if not changes:
        return said
    with transaction.atomic():
        if attempts:
            insert_rows(Attempt._meta.db_table, ATTEMPT_COLUMNS, attempts)
        ours = _apply(changes, batch.lease_until)
        endpoint_health.record([row for pk, row in health_rows.items() if pk in ours])
        if gone:
            endpoint_health.disable(gone, reason=endpoint_health.GONE, now=batch.now)
    _report(done, [o.job for o in outcomes if o.result is None and o.job.close], ours)
    for pk in set(changes) - set(ours):
        said[pk] = "superseded"
    retries = sorted({c["next_attempt_at"] for pk, c in changes.items() if pk in ours and c.get("state") is None
                      and c.get("next_attempt_at")})
    for at in _spread(retries):
        hints.wake(at=at)
    return said


def _report(done: list[tuple[Job, str, transports.SendResult, datetime]], closed: list[Job], ours: set[str]) -> None:
    """After the commit: the node's delivery metrics, and a log line per attempt with the ids it is
    about and the request id that brought its event in. Never the URL (it may carry a key), never
    the payload or its signature."""
    try:
        for job, outcome, result, ended in done:
            metrics.DELIVERY_ATTEMPTS.labels(outcome, job.method, job.url.split(":", 1)[0].lower()).inc()
            if job.delivery_id in ours and outcome != Attempt.Outcome.RETRY:
                metrics.DELIVERIES_FINISHED.labels(outcome).inc()
                if outcome == Attempt.Outcome.DELIVERED and job.received_at is not None:
                    metrics.EVENT_TO_DELIVERY_SECONDS.observe(max(0.0, (ended - job.received_at).total_seconds()))
        for job in closed:
            if job.delivery_id in ours:
                metrics.DELIVERIES_FINISHED.labels(Delivery.State.FAILED).inc()
    except Exception:  # noqa: BLE001 - counting never fails a delivery
        logger.warning("could not count delivery attempts", exc_info=True)
    if not logger.isEnabledFor(logging.INFO):
        return
    for job, outcome, result, _ in done:
        logger.info("delivery attempt %d: %s", job.number, outcome, extra={
            "requestId": job.request_id or None, "deliveryId": job.delivery_id, "eventId": job.event.event_id,
            "endpointId": job.endpoint_id, "attempt": job.number, "outcome": outcome, "status": result.status,
            "durationMs": result.duration_ms, **({"error": result.error[:200]} if result.error else {})})
    for job in closed:
        logger.info("delivery ended without an attempt: %s", job.close, extra={
            "requestId": job.request_id or None, "deliveryId": job.delivery_id, "eventId": job.event.event_id,
            "endpointId": job.endpoint_id, "outcome": Delivery.State.FAILED})


def _apply(changes: dict[str, dict[str, object]], lease_until: datetime) -> set[str]:
    """One UPDATE for the whole batch: per-row values as a CASE per column, only where this batch's lease
    still holds (else another worker took over after it ran out); answers the ids it moved on."""
    q = connection.ops.quote_name
    adapt = connection.ops.adapt_datetimefield_value
    ids = list(changes)
    assignments = [f"{q('lease_until')} = NULL"]
    params: list[object] = []
    columns = sorted({name for change in changes.values() for name in change})
    for name in columns:
        groups: dict[object, list[str]] = defaultdict(list)  # rows sharing a value share one WHEN ... IN
        for pk in ids:
            if name in changes[pk]:
                groups[changes[pk][name]].append(pk)
        whens = []
        for value, pks in groups.items():
            whens.append(f"WHEN {q('id')} IN ({', '.join(['%s'] * len(pks))}) THEN %s")
            params += [*pks, adapt(value) if isinstance(value, datetime) else value]
        assignments.append(f"{q(name)} = CASE {' '.join(whens)} ELSE {q(name)} END")
    sql = (f"UPDATE {q(Delivery._meta.db_table)} SET {', '.join(assignments)}"
           f" WHERE {q('id')} IN ({', '.join(['%s'] * len(ids))}) AND {q('state')} = %s AND {q('lease_until')} = %s"
           f" RETURNING {q('id')}")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *ids, Delivery.State.PENDING, adapt(lease_until)])
        return {row[0] for row in cursor.fetchall()}


def _spread(times: list[datetime], step: float = 1.0, most: int = 20) -> list[datetime]:
    """One wake-up per second that holds a retry (at most `most`): each retry is looked for on time."""
    picked: list[datetime] = []
    for at in times:
        if not picked or (at - picked[-1]).total_seconds() >= step:
            picked.append(at)
    return picked[:most]


# --- the cycle -----------------------------------------------------------------------------

def run(now: datetime | None = None, *, limit: int | None = None, only: list[str] | None = None,
        wait_seconds: float | None = None) -> dict[str, str]:
    """Claim, send, record one batch. With `wait_seconds`, endpoints still sending after that are
    recorded in the background when they end. Answers delivery id -> what happened (so far)."""
    batch = claim(now, limit=limit, only=only)
    if not batch.jobs:
        return {}
    if batch.left:  # (after the claim's commit) another process takes the endpoints this one left
        hints.wake(coalesce=False)
    started = send(batch)
    futures = [f for _, lanes in started for f in lanes]
    if wait_seconds is None:
        wait(futures)
    else:
        # Wait for the slowest lane at most twice as long as the first took (and never past
        # wait_seconds): healthy endpoints' outcomes are recorded at once, not after a dead one's timeout.
        clock = time.monotonic()
        deadline = clock + wait_seconds
        first, _ = wait(futures, timeout=wait_seconds, return_when=FIRST_COMPLETED)
        if first:
            took = time.monotonic() - clock
            wait(futures, timeout=max(0.0, min(deadline, clock + max(2 * took, MIN_WAIT)) - time.monotonic()))
    done = [(group, lanes) for group, lanes in started if all(f.done() for f in lanes)]
    slow = [(group, lanes) for group, lanes in started if not all(f.done() for f in lanes)]
    said = record(batch, [o for _, lanes in done for o in _outcomes(lanes)])
    if slow:
        _finish_later(batch, slow)
    return said


def _finish_later(batch: Batch, slow: list[tuple[_Endpoint, list[Future]]]) -> None:
    def finish() -> None:
        try:
            lanes = [f for _, fs in slow for f in fs]
            wait(lanes)
            record(batch, [o for f in lanes for o in f.result()])
            hints.wake(coalesce=False)  # the endpoints' slots are free again
        except Exception:  # noqa: BLE001 - the leases run out and the attempts are retried
            logger.exception("recording slow attempts failed")
        finally:
            close_old_connections()
            connection.close()
            _background.discard(thread)

    thread = threading.Thread(target=finish, name="callnotify-slow", daemon=True)
    _background.add(thread)
    thread.start()


def wait_idle(timeout: float = 30.0) -> bool:
    """Wait for attempts still being recorded in the background (shutdown, tests)."""
    end = time.monotonic() + timeout
    for thread in list(_background):
        thread.join(max(0.0, end - time.monotonic()))
    return not _background


def attempt_delivery(delivery_id: str, *, now: datetime | None = None) -> str:
    """One attempt of one delivery if it is due and its turn (the batch path with one id); says what happened."""
    return run(now, only=[delivery_id]).get(delivery_id, "skipped")


def retry_now(ids: list[str], now: datetime | None = None) -> int:
    """The admin's "retry now": FAILED deliveries start a new round (the attempt counter restarts)."""
    now = now or timezone.now()
    count = Delivery.objects.filter(pk__in=ids, state=Delivery.State.FAILED).update(
        state=Delivery.State.PENDING, attempts=0, next_attempt_at=now, finished_at=None, lease_until=None)
    if count:
        transaction.on_commit(hints.wake)
    return count


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
