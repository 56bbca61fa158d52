"""Statement budgets of the pipeline (docs/callevents.md §6), counted, not timed.

transaction=True: the test is not wrapped in a transaction, so what is counted is what the code
sends, without the savepoints a wrapping test transaction would add. `budget` counts statements
as django_assert_max_num_queries does (CaptureQueriesContext), leaving out transaction control
(SQLite's BEGIN IMMEDIATE / COMMIT go through the cursor, PostgreSQL's do not), and counts
transactions as the commits Django makes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timezone

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AccessLevel, Customer
from callnotify import ingest as store
from callnotify.delivery import run
from callnotify.models import Attempt, CallEvent, Delivery
from callnotify.views import CallEventView
from tests.accounts.factories import CustomerFactory, EmployeeFactory
from tests.callnotify.factories import CallNotifyFactory
from tests.schema_validation import published_schema

pytestmark = [pytest.mark.django_db(transaction=True)]
WHEN = datetime(2026, 11, 22, 10, 15, tzinfo=timezone.utc)


CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


@pytest.fixture
def budget(monkeypatch) -> Iterator[Callable[[int, int], AbstractContextManager[None]]]:
    commits = [0]
    real = connection.commit

    def commit() -> None:
        commits[0] += 1
        real()

    monkeypatch.setattr(connection, "commit", commit)

    @contextmanager
    def within(statements: int, transactions: int) -> Iterator[None]:
        commits[0] = 0
        with CaptureQueriesContext(connection) as captured:
            yield
        sql = [q["sql"] for q in captured.captured_queries if not q["sql"].upper().startswith(CONTROL)]
        assert len(sql) <= statements, "\n".join(s[:150] for s in sql)
        assert commits[0] <= transactions

    yield within


def new_event(customer: Customer, call_id: str, state: str = "RINGING") -> store.NewEvent:
    return store.NewEvent(customer.pk, call_id, {"type": "SIP", "direction": "INBOUND", "state": state,
                                                 "a_number": "+4512345678", "b_number": "+4570305050", "timestamp": WHEN})


def test_one_event_with_its_deliveries_is_three_statements_and_one_commit(budget) -> None:
    customer = CustomerFactory()
    CallNotifyFactory.create_batch(2, customer=customer, selection="ALL")
    with budget(3, 1):
        info = store.customers_with_endpoints([customer.pk])[customer.pk]  # the view's one read
        stored = store.store_one(new_event(customer, "call-1"), info)
    assert (stored.sequence, stored.deliveries) == (1, 2)
    assert Delivery.objects.filter(event_id=stored.id).count() == 2


def test_the_api_stores_one_event_in_the_same_three_statements(client_for, django_assert_max_num_queries) -> None:
    operator = CustomerFactory(is_reseller=True)
    switch = EmployeeFactory(access_level=AccessLevel.VIEWER, customer=operator)
    switch.user_permissions.add(Permission.objects.get(codename="add_callevent", content_type__app_label="callnotify"))
    customer = CustomerFactory()
    CallNotifyFactory.create_batch(2, customer=customer, selection="ALL")
    client = client_for(switch)
    body = {"callId": "c", "customer": customer.id, "type": "SIP", "direction": "INBOUND", "state": "RINGING",
            "aNumber": "+4512345678", "bNumber": "+4570305050", "timestamp": "2026-11-22T10:15:00Z"}
    view_queries = []

    def count(execute, sql, params, many, context):  # statements made inside the view's own work
        if getattr(CallEventView, "_counting", False) and not sql.upper().startswith(CONTROL):
            view_queries.append(sql)
        return execute(sql, params, many, context)

    published_schema()  # built from the real view, before it is wrapped (the client validates against it)
    original = CallEventView.post

    def post(self, request):  # type: ignore[no-untyped-def]
        CallEventView._counting = True
        try:
            return original(self, request)
        finally:
            CallEventView._counting = False

    CallEventView.post = post
    try:
        with connection.execute_wrapper(count):
            response = client.post("/api/callevent", body, format="json")
    finally:
        CallEventView.post = original
    assert response.status_code == 202 and response.json()["deliveries"] == 2
    assert len(view_queries) <= 3, "\n".join(q[:100] for q in view_queries)


def test_a_batch_of_100_events_with_2_endpoints_each_is_at_most_10_statements(budget) -> None:
    customers = CustomerFactory.create_batch(2)
    for customer in customers:
        CallNotifyFactory.create_batch(2, customer=customer, selection="ALL")
    events = [new_event(customers[n % 2], f"call-{n // 3}", ("RINGING", "ANSWERED", "HANGUP")[n % 3]) for n in range(100)]
    with budget(10, 1):
        infos = store.customers_with_endpoints(c.pk for c in customers)
        answers = store.store_many(events, infos)
    assert sum(a.deliveries for a in answers) == 200
    assert CallEvent.objects.count() == 100 and Delivery.objects.count() == 200


def test_claim_send_record_of_100_due_deliveries_is_at_most_10_statements_in_3_transactions(
    budget, loopback, httpserver, settings
) -> None:
    settings.CALLNOTIFY_CLAIM_SPLIT = 1  # the 100 in one batch, both endpoints
    httpserver.expect_request("/hook").respond_with_data("ok")
    customer = CustomerFactory()
    for path in ("a", "b"):
        CallNotifyFactory(customer=customer, url=f"http://sink.example.com:{httpserver.port}/hook?{path}", selection="ALL")
    store.store_many([new_event(customer, f"call-{n}") for n in range(50)], store.customers_with_endpoints([customer.pk]))
    with budget(10, 3):
        outcomes = run(limit=100)
    assert len(outcomes) == 100 and set(outcomes.values()) == {"delivered"}
    assert Attempt.objects.filter(outcome="DELIVERED").count() == 100
    assert len(httpserver.log) == 100
