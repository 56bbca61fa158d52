"""The dashboard (admin index): bounded queries whatever the delivery table holds, and figures from the counters."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from callnotify import endpoint_health as health
from callnotify.models import CallEvent, CallNotify, Delivery
from console import dashboard
from tests.accounts.factories import CustomerFactory, EmployeeFactory

pytestmark = pytest.mark.django_db

DELIVERIES = 100_000
INDEX_QUERIES = 14  # session, user, and the dashboard's twelve reads (docs/console.md lists them)


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(EmployeeFactory(admin=True))
    return client


def fill(deliveries: int) -> None:
    """`deliveries` rows over 100 endpoints and 1,000 events: mostly DELIVERED, some FAILED, 1 % PENDING."""
    customer = CustomerFactory()
    endpoints = CallNotify.objects.bulk_create(
        [CallNotify(customer=customer, url=f"http://192.0.2.{n + 1}:8080/calls", method="POSTJSON", selection="ALL") for n in range(100)])
    now = timezone.now()
    events = CallEvent.objects.bulk_create(
        [CallEvent(call_id=f"scale-{n}", customer=customer, type="SIP", direction="INBOUND", state="RINGING",
                   a_number="+4512345678", b_number="+4570305050", timestamp=now, sequence=1) for n in range(deliveries // 100)])
    batch = []
    for n in range(deliveries):
        state = "PENDING" if n % 100 == 0 else "FAILED" if n % 25 == 0 else "DELIVERED"
        batch.append(Delivery(event=events[n // 100], endpoint=endpoints[n % 100], call_id=events[n // 100].call_id, sequence=1,
                              state=state, attempts=1, next_attempt_at=now - timedelta(seconds=n % 600) if state == "PENDING" else None,
                              finished_at=None if state == "PENDING" else now))
        if len(batch) == 10_000:
            Delivery.objects.bulk_create(batch)
            batch = []
    Delivery.objects.bulk_create(batch)
    health.record([health.Outcome(e.pk, None, "RETRY", 20, now) for e in endpoints[:5]])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # the planner knows the table's size, as it would in production


def plan(sql: str) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("EXPLAIN " + sql)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def unindexed_delivery_scan(explained: str) -> bool:
    table = Delivery._meta.db_table
    if connection.vendor == "postgresql":
        return f"Seq Scan on {table}" in explained
    return bool(re.search(rf"\bSCAN {table}\b(?! USING (COVERING )?INDEX)", explained))


def test_the_index_page_reads_a_bounded_number_of_queries_none_scanning_deliveries(operator, django_assert_max_num_queries) -> None:
    fill(DELIVERIES)
    assert Delivery.objects.count() == DELIVERIES

    with django_assert_max_num_queries(INDEX_QUERIES) as captured:
        response = operator.get("/admin/")

    assert response.status_code == 200
    page = response.content.decode()
    assert '<span id="backlog-pending">1000</span>' in page
    assert page.count("192.0.2.") == 5  # the five failing endpoints, nothing else listed
    table = Delivery._meta.db_table
    touching = [q["sql"] for q in captured.captured_queries if table in q["sql"]]
    assert len(touching) == 4  # the backlog: capped counts (pending, overdue, held) and the oldest due
    for sql in touching:
        explained = plan(sql)
        assert not unindexed_delivery_scan(explained), explained


def test_the_scan_detector_sees_a_scan() -> None:
    """The check above can fail: a query filtering on an unindexed column is reported."""
    fill(1_000)
    sql = str(Delivery.objects.filter(last_error="x").only("id").query)
    assert unindexed_delivery_scan(plan(sql.replace("= x", "= 'x'")))


def test_figures_come_from_the_counters(operator) -> None:
    customer = CustomerFactory()
    endpoint = CallNotify.objects.create(customer=customer, url="http://192.0.2.7:80/x", method="GET1", selection="SIP")
    now = timezone.now()
    health.record([health.Outcome(endpoint.pk, None, "DELIVERED", 30, now - timedelta(minutes=2)),
                   health.Outcome(endpoint.pk, None, "RETRY", 3000, now - timedelta(minutes=1)),
                   health.Outcome(endpoint.pk, None, "FAILED", 20, now - timedelta(hours=3))])
    health.add_counts({("route.prefix", health.minute_of(now)): 7, ("route.no_route", health.minute_of(now - timedelta(hours=2))): 2})
    figures = dashboard.figures(now)
    assert figures["deliveries"]["hourTotals"] == {"DELIVERED": 1, "RETRY": 1, "FAILED": 0, "INTERRUPTED": 0}
    assert figures["deliveries"]["dayTotals"] == {"DELIVERED": 1, "RETRY": 1, "FAILED": 1, "INTERRUPTED": 0}
    assert figures["routing"]["reasons"] == [{"reason": "no_route", "hour": 0, "day": 2}, {"reason": "prefix", "hour": 7, "day": 7}]
    [row] = figures["failing"]
    assert (row["endpoint"], row["health"].consecutive_failures) == (endpoint, 1)  # the RETRY after the success
    assert (row["hour"]["delivered"], row["hour"]["failed"], row["day"]["failed"]) == (1, 1, 2)
    assert figures["backlog"] == {"pending": 0, "pendingCapped": False, "overdue": 0, "held": 0, "oldestDueAt": None,
                                  "oldestDueSeconds": None}
    page = operator.get("/admin/").content.decode()
    assert "Telecom X back office" in page and "<svg" in page and 'id="routing-reasons"' in page
    assert 'href="/admin/callnotify/callnotify/"' in page  # the app list is still there, below
