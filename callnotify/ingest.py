"""Call event ingestion (docs/callevents.md §1): `ingest` takes a switch's request body, one event
or a batch of up to 1,000, checks who may report for whom and what each event says, and stores
the events and their deliveries.

The database is the truth: an event and its deliveries are written in one transaction before
anything is sent; the only thing said to the delivery side afterwards is a hint that work may
be due (hints.wake), so a lost hint only delays (the sweep finds the work).

Statement budget (tests/callnotify/test_budgets.py): one event is 3 statements — the customers
with their active endpoints, the event with its sequence (INSERT ... SELECT), its deliveries —
and one commit. A batch is 5 bulk statements however many events it holds (more only where
SQLite's bound-parameter limit splits a bulk insert).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from rest_framework.exceptions import ValidationError

from accounts.models import Customer, Employee
from accounts.permissions import event_reach
from callnotify import hints
from callnotify.models import CallEvent, CallNotify, Delivery
from callnotify.serializers import CallEventSerializer
from core import metrics
from core.db import in_list, insert_rows, list_param, plain
from core.errors import ApiError, Error, error_body, validation_body
from core.ids import new_id, normalize_id
from core.logs import request_id

MAX_BATCH = 1000
NOT_AN_EVENT: Error = (400, "bad_request", f"The request body must be a JSON object or an array of at most {MAX_BATCH} objects")
RETRIES = 5
EVENT_FIELDS = ("type", "direction", "state", "a_number", "b_number", "timestamp", "duration", "cause", "additional")


@dataclass(frozen=True)
class CustomerInfo:
    state: str
    is_reseller: bool
    parent_reseller_id: str | None
    endpoints: tuple[tuple[str, str], ...] = ()  # (id, selection) of its ACTIVE endpoints


# How many resellers above the customer are DELETED (its parent, the parent's parent, …).
_CUSTOMER = Customer._meta.db_table
_DELETED_ABOVE = (
    f"SELECT COUNT(*) FROM (WITH RECURSIVE up(id, parent, state) AS ("
    f" SELECT p.id, p.parent_reseller_id, p.state FROM {_CUSTOMER} p WHERE p.id = {_CUSTOMER}.parent_reseller_id"
    f" UNION SELECT p.id, p.parent_reseller_id, p.state FROM {_CUSTOMER} p JOIN up ON p.id = up.parent)"
    f" SELECT state FROM up) AS above WHERE state = 'DELETED'"
)


@cache
def _customers_sql(vendor: str) -> str:
    """The customers among a list of ids, each joined to its ACTIVE endpoints, with the count of
    DELETED resellers above it: written once per process (the ORM compiled it on every event post)."""
    notify = CallNotify._meta.db_table
    return (f"SELECT {_CUSTOMER}.id, {_CUSTOMER}.state, {_CUSTOMER}.is_reseller, {_CUSTOMER}.parent_reseller_id,"
            f" n.id, n.selection, ({_DELETED_ABOVE}) FROM {_CUSTOMER}"
            f" LEFT JOIN {notify} n ON n.customer_id = {_CUSTOMER}.id AND n.state = %s"
            f" WHERE {in_list(f'{_CUSTOMER}.id', vendor)}")


def customers_with_endpoints(ids: Iterable[str]) -> dict[str, CustomerInfo]:
    """The customers among `ids` that exist, each with its active endpoints: one query."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    found: dict[str, dict] = {}
    with connection.cursor() as cursor:
        cursor.execute(_customers_sql(connection.vendor), [CallNotify.State.ACTIVE.value, list_param(wanted)])
        rows = cursor.fetchall()
    for pk, state, is_reseller, parent, endpoint_id, selection, deleted_above in rows:
        if deleted_above:  # a reseller above it is DELETED: its events are taken as a DELETED customer's
            state = Customer.State.DELETED
        info = found.setdefault(pk, {"state": state, "is_reseller": bool(is_reseller), "parent_reseller_id": parent,
                                     "endpoints": []})
        if endpoint_id is not None:
            info["endpoints"].append((endpoint_id, selection))
    return {pk: CustomerInfo(i["state"], i["is_reseller"], i["parent_reseller_id"], tuple(sorted(i["endpoints"])))
            for pk, i in found.items()}


def _targets(info: CustomerInfo, event_type: str) -> list[str]:
    """The endpoints that get a delivery: an ACTIVE customer's ACTIVE endpoints selecting the event's type."""
    if info.state != Customer.State.ACTIVE:
        return []  # stored, not delivered (docs/callevents.md §1)
    return [pk for pk, selection in info.endpoints if selection in (event_type, CallNotify.Selection.ALL)]


@dataclass
class Stored:
    """One stored (or already known) event; its wire form is callnotify.serializers.accepted."""

    id: str
    sequence: int
    deliveries: int  # queued by this request; 0 when the event was already stored
    created: bool = True


@dataclass
class NewEvent:
    """A validated event: the customer exists and the poster may report for it."""

    customer_id: str
    call_id: str
    fields: dict[str, object] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.customer_id, self.call_id, str(self.fields["state"]))


EVENT_COLUMNS = ("id", "customer_id", "call_id", "sequence", "created_at", "request_id", *EVENT_FIELDS)
DELIVERY_COLUMNS = ("id", "event_id", "endpoint_id", "call_id", "sequence", "state", "attempts", "next_attempt_at",
                    "created_at", "last_error")


def _event_row(event_id: str, new: NewEvent, sequence: int, now: datetime) -> tuple[object, ...]:
    f = new.fields
    return (event_id, new.customer_id, new.call_id, sequence, now, request_id.get() or "", f["type"], f["direction"],
            f["state"], f["a_number"], f["b_number"], f["timestamp"], f.get("duration"), f.get("cause") or "",
            f.get("additional") or {})


def _delivery_rows(event_id: str, call_id: str, sequence: int, endpoints: Sequence[str], now: datetime) -> list[tuple]:
    return [(new_id(), event_id, pk, call_id, sequence, Delivery.State.PENDING.value, 0, now, now, "") for pk in endpoints]


def _count_ingested(n: int = 1) -> None:
    try:
        metrics.EVENTS_INGESTED.inc(n)
    except Exception:  # noqa: BLE001 - counting never fails ingestion
        logging.getLogger("callnotify.ingest").warning("could not count ingested events", exc_info=True)


def _insert_deliveries(rows: list[tuple]) -> None:
    if rows:
        insert_rows(Delivery._meta.db_table, DELIVERY_COLUMNS, rows)
        transaction.on_commit(hints.wake)


def _insert_next_in_call(event_id: str, new: NewEvent, now: datetime) -> int | None:
    """INSERT the event with the next sequence of its call in one statement; None if (customer, call,
    state) or the sequence is taken (a repeat, or a concurrent post of the same call won the number)."""
    q = connection.ops.quote_name
    table = q(CallEvent._meta.db_table)
    # The batch's row (_event_row) but for its sequence, which this statement computes.
    given = [(column, value) for column, value in zip(EVENT_COLUMNS, _event_row(event_id, new, 0, now)) if column != "sequence"]
    json_param = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    marks = ", ".join(json_param if column == "additional" else "%s" for column, _ in given)
    # (WHERE keeps SQLite from reading ON CONFLICT as a join's ON.)
    sql = (
        f"INSERT INTO {table} ({', '.join(q(column) for column, _ in given)}, {q('sequence')})"
        f" SELECT {marks}, COALESCE(MAX({q('sequence')}), 0) + 1"
        f" FROM {table} WHERE {q('customer_id')} = %s AND {q('call_id')} = %s"
        f" ON CONFLICT DO NOTHING RETURNING {q('sequence')}"
    )
    params = [*(plain(value) for _, value in given), new.customer_id, new.call_id]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def store_one(new: NewEvent, info: CustomerInfo) -> Stored:
    """One event: 2 statements in one transaction (the caller read `info` with the customers' query)."""
    targets = _targets(info, str(new.fields["type"]))
    for _ in range(RETRIES):
        now = timezone.now()
        event_id = new_id()
        with transaction.atomic():
            sequence = _insert_next_in_call(event_id, new, now)
            if sequence is not None:
                _insert_deliveries(_delivery_rows(event_id, new.call_id, sequence, targets, now))
                transaction.on_commit(_count_ingested)
                return Stored(event_id, sequence, len(targets))
        known = CallEvent.objects.filter(customer_id=new.customer_id, call_id=new.call_id,
                                         state=new.fields["state"]).values_list("id", "sequence").first()
        if known is not None:
            return Stored(known[0], known[1], 0, False)
        # the sequence number was taken by a concurrent post of another state of this call: take the next
    raise IntegrityError(f"could not store an event for call {new.call_id!r}")


def store_many(events: Sequence[NewEvent | None], customers: dict[str, CustomerInfo]) -> list[Stored | None]:
    """A batch in one transaction with bulk statements; None items (refused events) stay None.

    Idempotency and the per-call sequence hold inside the batch (a repeat answers the first
    one's event) and across concurrent batches: the unique constraints decide, and the loser
    reads again and retries the whole batch, up to RETRIES times, then stores its events one
    by one.
    """
    valid = [e for e in events if e is not None]
    if not valid:
        return [None] * len(events)
    for _ in range(RETRIES):
        try:
            with transaction.atomic():
                answers = _store_many(events, valid, customers)
            return answers
        except IntegrityError:
            continue
    # Still losing (other posts keep taking the same calls' numbers): each event on its own, as a
    # single post is stored, so the batch is answered event by event rather than refused whole.
    return [None if e is None else store_one(e, customers[e.customer_id]) for e in events]


def _store_many(events: Sequence[NewEvent | None], valid: list[NewEvent],
                customers: dict[str, CustomerInfo]) -> list[Stored | None]:
    now = timezone.now()
    known: dict[tuple[str, str, str], Stored] = {}
    last: dict[tuple[str, str], int] = {}
    for customer_id, call_id, state, sequence, pk in (
        CallEvent.objects.filter(customer_id__in={e.customer_id for e in valid}, call_id__in={e.call_id for e in valid})
        .order_by().values_list("customer_id", "call_id", "state", "sequence", "id")
    ):
        known[(customer_id, call_id, state)] = Stored(pk, sequence, 0, False)
        last[(customer_id, call_id)] = max(last.get((customer_id, call_id), 0), sequence)
    answers: list[Stored | None] = []
    new_events: list[tuple] = []
    new_deliveries: list[tuple] = []
    for event in events:
        if event is None:
            answers.append(None)
            continue
        if event.key in known:
            seen = known[event.key]
            answers.append(Stored(seen.id, seen.sequence, 0, False))
            continue
        call = (event.customer_id, event.call_id)
        sequence = last[call] = last.get(call, 0) + 1
        event_id = new_id()
        new_events.append(_event_row(event_id, event, sequence, now))
        targets = _targets(customers[event.customer_id], str(event.fields["type"]))
        new_deliveries += _delivery_rows(event_id, event.call_id, sequence, targets, now)
        stored = Stored(event_id, sequence, len(targets))
        known[event.key] = stored
        answers.append(stored)
    if new_events:
        insert_rows(CallEvent._meta.db_table, EVENT_COLUMNS, new_events)
        transaction.on_commit(lambda: _count_ingested(len(new_events)))
    _insert_deliveries(new_deliveries)
    return answers


def ingest(body: object, *, poster: Employee) -> Stored | list[Stored | dict[str, object]]:
    """A switch's POST /api/callevent body, whole: one event (an object) or up to MAX_BATCH (an
    array), for the customers `poster` may report for (accounts.permissions.event_reach).

    One event: the stored event, or its documented error raised (a 422 ValidationError). An
    array: in the same order, each stored event or that item's own error body; the valid ones are
    stored together. Anything else: ApiError NOT_AN_EVENT.
    """
    if isinstance(body, list):
        if len(body) > MAX_BATCH or not all(isinstance(item, dict) for item in body):
            raise ApiError(*NOT_AN_EVENT)
        customers = _reachable(body, poster)
        checker = Checker(customers)
        events: list[NewEvent | None] = []
        errors: dict[int, dict[str, object]] = {}
        for index, item in enumerate(body):
            try:
                events.append(checker(item))
            except ValidationError as exc:
                events.append(None)
                errors[index] = validation_body(exc.detail)
            except ApiError as exc:
                events.append(None)
                errors[index] = error_body(exc.status_code, exc.code, exc.message, exc.path)
        stored = store_many(events, customers)
        return [errors[i] if answer is None else answer for i, answer in enumerate(stored)]
    if not isinstance(body, dict):
        raise ApiError(*NOT_AN_EVENT)
    customers = _reachable([body], poster)
    new = Checker(customers)(body)
    return store_one(new, customers[new.customer_id])


def _reachable(items: list[dict], poster: Employee) -> dict[str, CustomerInfo]:
    """The customers the items name that the poster may report for, with their active endpoints: one query."""
    wanted = {pk for item in items if (pk := normalize_id(item.get("customer")))}
    found = customers_with_endpoints(wanted)
    reach = event_reach(poster, {pk: (c.is_reseller, c.parent_reseller_id) for pk, c in found.items()})
    return {pk: info for pk, info in found.items() if pk in reach}


class Checker:
    """Checks the events of one request: CallEventSerializer.quick takes the usual well-formed
    event; anything else takes run_validation, which words the documented error, with one
    serializer for the whole request, made when first needed (its fields are built once)."""

    def __init__(self, customers: dict[str, CustomerInfo]):
        self.customers = customers
        self.serializer: CallEventSerializer | None = None

    def __call__(self, item: dict) -> NewEvent:
        fields = CallEventSerializer.quick(item, self.customers)
        if fields is None:
            if self.serializer is None:
                self.serializer = CallEventSerializer(context={"reachable": self.customers})
            fields = dict(self.serializer.run_validation(item))
        return NewEvent(fields.pop("customer_id"), fields.pop("call_id"), fields)


@dataclass(frozen=True)
class Recorded:
    """record_call_event's answer (management commands, the demo and tests store through it)."""

    event: CallEvent
    deliveries: int
    created: bool


def record_call_event(*, call_id: str, customer: Customer, **fields: object) -> Recorded:
    """Store one event for `customer` (no poster check: callers are the operator's own code)."""
    info = customers_with_endpoints([customer.pk])[customer.pk]
    stored = store_one(NewEvent(customer.pk, call_id, dict(fields)), info)
    return Recorded(CallEvent.objects.get(pk=stored.id), stored.deliveries, stored.created)
