"""Endpoint health and the per-minute counters the engine keeps (callnotify/endpoint_health.py), and the API's `health`."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from pytest_httpserver import HTTPServer

from accounts.models import AccessLevel
from callnotify import endpoint_health as health
from callnotify.delivery import attempt_delivery
from callnotify.endpoint_health import EndpointHealth, EndpointMinute, Outcome
from callnotify.models import CallNotify, Delivery
from core.models import MinuteCount
from tests.accounts.factories import EmployeeFactory
from tests.callnotify.factories import CallNotifyFactory
from tests.callnotify.factories import post_event

pytestmark = pytest.mark.django_db


def test_record_folds_a_batch_with_a_fixed_number_of_statements(django_assert_num_queries) -> None:
    a, b = CallNotifyFactory(), CallNotifyFactory()
    t = timezone.now().replace(second=10, microsecond=0)
    batch = [Outcome(a.pk, a.customer_id, "DELIVERED", 40, t), Outcome(a.pk, a.customer_id, "RETRY", 3000, t + timedelta(seconds=1)),
             Outcome(b.pk, b.customer_id, "FAILED", 7, t), Outcome(a.pk, a.customer_id, "DELIVERED", 60, t + timedelta(seconds=70))]
    with django_assert_num_queries(4):
        health.record(batch, now=t)
    many = [Outcome(b.pk, None, "RETRY", n, t + timedelta(seconds=n % 50)) for n in range(300)]
    with django_assert_num_queries(4):  # the same four statements for 300 outcomes
        health.record(many, now=t)

    minute = t.replace(second=0)
    rows = {(r.endpoint_id, r.minute): r for r in EndpointMinute.objects.all()}
    first = rows[(a.pk, minute)]
    assert (first.delivered, first.failed, first.h2, first.h8) == (1, 1, 1, 1)  # 40 ms ≤ 50, 3000 ms ≤ 5000
    assert rows[(a.pk, minute + timedelta(minutes=1))].delivered == 1
    assert rows[(b.pk, minute)].failed == 301
    counts = {(c.name, c.minute): c.count for c in MinuteCount.objects.all()}
    assert counts == {("delivery.DELIVERED", minute): 1, ("delivery.RETRY", minute): 301, ("delivery.FAILED", minute): 1,
                      ("delivery.DELIVERED", minute + timedelta(minutes=1)): 1}
    ha, hb = EndpointHealth.objects.get(pk=a.pk), EndpointHealth.objects.get(pk=b.pk)
    assert (ha.consecutive_failures, ha.failing_since, ha.last_success_at) == (0, None, t + timedelta(seconds=70))
    assert ha.last_failure_at == t + timedelta(seconds=1)
    assert (hb.consecutive_failures, hb.failing_since, hb.last_success_at) == (301, t, None)


def test_a_success_restarts_the_run_at_the_failures_after_it() -> None:
    e = CallNotifyFactory()
    t = timezone.now()
    health.record([Outcome(e.pk, None, "RETRY", 5, t)] * 3)
    health.record([Outcome(e.pk, None, "DELIVERED", 5, t + timedelta(seconds=1)), Outcome(e.pk, None, "RETRY", 5, t + timedelta(seconds=2))])
    row = EndpointHealth.objects.get(pk=e.pk)
    assert (row.consecutive_failures, row.failing_since) == (1, t + timedelta(seconds=2))


def test_percentiles_are_bucket_upper_bounds() -> None:
    assert health.percentile([0] * 11, 0.5) is None
    histogram = [0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0]
    assert health.percentile(histogram, 0.5) == 100 and health.percentile(histogram, 0.95) == 100
    histogram = [90, 0, 0, 0, 0, 0, 0, 0, 0, 5, 5]
    assert health.percentile(histogram, 0.5) == 10 and health.percentile(histogram, 0.95) == 10000


def test_a_pages_health_is_one_statement_and_each_endpoint_gets_its_own(django_assert_num_queries) -> None:
    """Attempts in the last hour, only earlier in the day, a health row with no attempt in the day
    (disabled), and nothing at all: each endpoint of one read gets its own figures."""
    now = timezone.now().replace(second=30, microsecond=0)
    recent, earlier, disabled, untouched, unknown = *CallNotifyFactory.create_batch(4), "6b0435fcdbc6a327465cc9cb"
    health.record([Outcome(recent.pk, None, "DELIVERED", 40, now - timedelta(minutes=5)),
                   Outcome(recent.pk, None, "RETRY", 3000, now - timedelta(hours=3)),
                   Outcome(earlier.pk, None, "FAILED", 7, now - timedelta(hours=5)),
                   Outcome(disabled.pk, None, "FAILED", 7, now - timedelta(days=3))], now=now)
    health.disable([disabled.pk], reason="gone (410)", now=now)
    with django_assert_num_queries(1):
        got = health.health_of([recent, earlier.pk, disabled, untouched, unknown], now=now)
    none = {"delivered": 0, "failed": 0, "p50DurationMs": None, "p95DurationMs": None}
    assert (got[recent.pk]["lastHour"], got[recent.pk]["lastDay"]) == (
        {"delivered": 1, "failed": 0, "p50DurationMs": 50, "p95DurationMs": 50},
        {"delivered": 1, "failed": 1, "p50DurationMs": 50, "p95DurationMs": 5000})
    assert (got[recent.pk]["consecutiveFailures"], got[recent.pk]["lastSuccessAt"]) == (0, now - timedelta(minutes=5))
    assert (got[earlier.pk]["lastHour"], got[earlier.pk]["lastDay"]) == (none, {**none, "failed": 1, "p50DurationMs": 10, "p95DurationMs": 10})
    assert got[earlier.pk]["failingSince"] == now - timedelta(hours=5)
    assert (got[disabled.pk]["lastDay"], got[disabled.pk]["disabledReason"], got[disabled.pk]["consecutiveFailures"]) == (
        none, "gone (410)", 1)
    assert got[untouched.pk] == got[unknown] == health.no_attempts() == {
        "lastHour": none, "lastDay": none, "lastSuccessAt": None, "lastFailureAt": None, "consecutiveFailures": 0,
        "failingSince": None, "disabledReason": None}


@pytest.fixture
def endpoint(httpserver: HTTPServer, loopback) -> CallNotify:
    return CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook")


def attempt_all(endpoint: CallNotify, now: datetime) -> list[str]:
    return [attempt_delivery(pk, now=now) for pk in Delivery.objects.filter(endpoint=endpoint, state="PENDING").values_list("id", flat=True)]


def test_the_engine_keeps_health_and_the_api_shows_it(endpoint: CallNotify, httpserver: HTTPServer, client_for) -> None:
    httpserver.expect_ordered_request("/hook").respond_with_data("", status=500)
    httpserver.expect_ordered_request("/hook").respond_with_data("", status=200)
    httpserver.expect_ordered_request("/hook").respond_with_data("", status=503)
    post_event(endpoint.customer, call_id="h-1")
    t0 = timezone.now() + timedelta(seconds=1)
    assert attempt_all(endpoint, t0) == ["retry"]
    assert attempt_all(endpoint, t0 + timedelta(seconds=10)) == ["delivered"]
    post_event(endpoint.customer, call_id="h-2")
    assert attempt_all(endpoint, t0 + timedelta(seconds=20)) == ["retry"]

    owner = EmployeeFactory(customer=endpoint.customer, access_level=AccessLevel.OWNER)
    body = client_for(owner).get(f"/api/customer/{endpoint.customer_id}/callnotify/{endpoint.pk}").json()["health"]
    assert body["lastHour"]["delivered"] == 1 and body["lastHour"]["failed"] == 2
    assert body["lastDay"] == body["lastHour"] and body["lastHour"]["p50DurationMs"] is not None
    assert body["consecutiveFailures"] == 1 and body["lastSuccessAt"] is not None and body["failingSince"] is not None
    assert body["disabledReason"] is None
    listed = client_for(owner).get(f"/api/customer/{endpoint.customer_id}/callnotify").json()
    assert listed[0]["health"] == body


def test_an_endpoint_failing_everything_for_the_set_days_is_disabled_with_the_reason(
        endpoint: CallNotify, httpserver: HTTPServer, client_for, settings) -> None:
    settings.CALLNOTIFY_DISABLE_AFTER_DAYS = 5
    httpserver.expect_request("/hook").respond_with_data("", status=500)
    post_event(endpoint.customer, call_id="d-1")
    t0 = timezone.now() + timedelta(seconds=1)
    attempt_all(endpoint, t0)
    post_event(endpoint.customer, call_id="d-2")
    Delivery.objects.filter(endpoint=endpoint).update(next_attempt_at=t0)
    assert attempt_all(endpoint, t0 + timedelta(days=5) - timedelta(seconds=1)).count("retry") >= 1
    assert CallNotify.objects.get(pk=endpoint.pk).state == "ACTIVE"  # not quite five days yet
    Delivery.objects.filter(endpoint=endpoint).update(next_attempt_at=t0)
    assert "retry" in attempt_all(endpoint, t0 + timedelta(days=5, seconds=1))

    assert CallNotify.objects.get(pk=endpoint.pk).state == "DISABLED"
    owner = EmployeeFactory(customer=endpoint.customer, access_level=AccessLevel.OWNER)
    client = client_for(owner)
    url = f"/api/customer/{endpoint.customer_id}/callnotify/{endpoint.pk}"
    assert client.get(url).json()["health"]["disabledReason"] == "every attempt failed for 5 days (CALLNOTIFY_DISABLE_AFTER_DAYS)"

    again = client.patch(url, {"state": "ACTIVE"}, format="json").json()
    assert again["state"] == "ACTIVE" and again["health"]["disabledReason"] is None
    assert again["health"]["consecutiveFailures"] == 0 and again["health"]["failingSince"] is None


def test_an_endpoint_enabled_again_after_a_410_starts_a_fresh_failure_run(
        endpoint: CallNotify, httpserver: HTTPServer, client_for, settings) -> None:
    """A 410 disables the endpoint the one way the five-day rule does, with its reason; enabling it
    again forgets the failures before, so its next failure does not disable it "for 5 days"."""
    settings.CALLNOTIFY_DISABLE_AFTER_DAYS = 5
    for status in (500, 410, 500):
        httpserver.expect_ordered_request("/hook").respond_with_data("", status=status)
    post_event(endpoint.customer, call_id="g-1")
    t0 = timezone.now() + timedelta(seconds=1)
    assert attempt_all(endpoint, t0) == ["retry"]  # failing since t0
    Delivery.objects.filter(endpoint=endpoint).update(next_attempt_at=t0)
    assert attempt_all(endpoint, t0 + timedelta(days=1)) == ["failed"]  # 410 Gone
    owner = EmployeeFactory(customer=endpoint.customer, access_level=AccessLevel.OWNER)
    client = client_for(owner)
    url = f"/api/customer/{endpoint.customer_id}/callnotify/{endpoint.pk}"
    gone = client.get(url).json()
    assert gone["state"] == "DISABLED" and gone["health"]["disabledReason"] == "the endpoint answered 410 Gone"

    again = client.patch(url, {"state": "ACTIVE"}, format="json").json()
    assert again["state"] == "ACTIVE" and again["health"]["disabledReason"] is None
    assert again["health"]["consecutiveFailures"] == 0 and again["health"]["failingSince"] is None
    post_event(endpoint.customer, call_id="g-2")
    assert attempt_all(endpoint, t0 + timedelta(days=6)) == ["retry"]  # six days after the first failure
    assert CallNotify.objects.get(pk=endpoint.pk).state == "ACTIVE"
    assert client.get(url).json()["health"]["consecutiveFailures"] == 1


def test_an_endpoint_its_customer_disabled_and_enabled_again_starts_a_fresh_failure_run(
        endpoint: CallNotify, httpserver: HTTPServer, client_for, settings) -> None:
    settings.CALLNOTIFY_DISABLE_AFTER_DAYS = 5
    httpserver.expect_request("/hook").respond_with_data("", status=500)
    post_event(endpoint.customer, call_id="c-1")
    t0 = timezone.now() + timedelta(seconds=1)
    assert attempt_all(endpoint, t0) == ["retry"]
    client = client_for(EmployeeFactory(customer=endpoint.customer, access_level=AccessLevel.OWNER))
    url = f"/api/customer/{endpoint.customer_id}/callnotify/{endpoint.pk}"
    assert client.patch(url, {"state": "DISABLED"}, format="json").json()["state"] == "DISABLED"
    assert client.patch(url, {"state": "ACTIVE"}, format="json").json()["health"]["failingSince"] is None
    Delivery.objects.filter(endpoint=endpoint, state="PENDING").update(next_attempt_at=t0)
    assert attempt_all(endpoint, t0 + timedelta(days=6)) == ["retry"]
    assert CallNotify.objects.get(pk=endpoint.pk).state == "ACTIVE"


def test_prune_keeps_two_days() -> None:
    e = CallNotifyFactory()
    now = timezone.now()
    health.record([Outcome(e.pk, None, "DELIVERED", 5, now - timedelta(days=3)), Outcome(e.pk, None, "DELIVERED", 5, now)])
    assert health.prune(now) == 2  # the old minute row and the old counter
    assert EndpointMinute.objects.count() == 1 and MinuteCount.objects.count() == 1
