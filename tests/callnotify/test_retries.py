"""Retry schedule, permanent failures, 410, Retry-After, interrupted attempts (docs/callevents.md §5), on a test clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import format_datetime

import pytest
from django.utils import timezone
from pytest_httpserver import HTTPServer

from callnotify.delivery import MAX_ATTEMPTS, RETRY_DELAYS, attempt_delivery, claim
from callnotify.models import Attempt, CallNotify, Delivery
from tests.callnotify.factories import CallNotifyFactory, post_event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback")]


@pytest.fixture
def endpoint(httpserver: HTTPServer) -> CallNotify:
    return CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook")


@pytest.fixture
def t0() -> datetime:
    """The test clock's start: just after the deliveries were stored (they are due at once)."""
    return timezone.now() + timedelta(seconds=5)


def delivery_for(endpoint: CallNotify, **fields: object) -> Delivery:
    return Delivery.objects.get(event=post_event(endpoint.customer, **fields).event, endpoint=endpoint)


def reload(delivery: Delivery) -> Delivery:
    delivery.refresh_from_db()
    return delivery


def assert_within_jitter(delay: timedelta, base: float) -> None:
    assert base * 0.8 <= delay.total_seconds() <= base * 1.2


def test_500_500_200_is_delivered_on_the_third_attempt_on_schedule(t0: datetime, httpserver: HTTPServer, endpoint: CallNotify) -> None:
    for status in (500, 500, 200):
        httpserver.expect_ordered_request("/hook").respond_with_data("", status=status)
    delivery = delivery_for(endpoint)

    assert attempt_delivery(delivery.id, now=t0) == "retry"
    first_retry = reload(delivery).next_attempt_at
    assert_within_jitter(first_retry - t0, RETRY_DELAYS[0])

    assert attempt_delivery(delivery.id, now=first_retry - timedelta(milliseconds=1)) == "skipped"  # not due yet
    assert len(httpserver.log) == 1

    assert attempt_delivery(delivery.id, now=first_retry) == "retry"
    second_retry = reload(delivery).next_attempt_at
    assert_within_jitter(second_retry - first_retry, RETRY_DELAYS[1])

    assert attempt_delivery(delivery.id, now=second_retry) == "delivered"
    delivery = reload(delivery)
    assert (delivery.state, delivery.attempts, delivery.last_status, delivery.next_attempt_at) == ("DELIVERED", 3, 200, None)
    assert delivery.finished_at is not None and delivery.finished_at >= second_retry
    log = list(delivery.attempt_log.values_list("number", "started_at", "outcome", "status"))
    assert log == [(1, t0, "RETRY", 500), (2, first_retry, "RETRY", 500), (3, second_retry, "DELIVERED", 200)]
    assert len(httpserver.log) == 3


def test_seven_failed_attempts_end_failed_following_the_whole_schedule(t0: datetime, httpserver: HTTPServer, endpoint: CallNotify) -> None:
    httpserver.expect_request("/hook").respond_with_data("", status=503)
    delivery = delivery_for(endpoint)
    now = t0
    for number in range(1, MAX_ATTEMPTS + 1):
        attempt_delivery(delivery.id, now=now)
        delivery = reload(delivery)
        if number < MAX_ATTEMPTS:
            assert delivery.state == "PENDING"
            assert_within_jitter(delivery.next_attempt_at - now, RETRY_DELAYS[number - 1])
            now = delivery.next_attempt_at
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("FAILED", MAX_ATTEMPTS, 503)
    assert delivery.attempt_log.filter(outcome="FAILED").count() == 1
    assert attempt_delivery(delivery.id, now=now + timedelta(days=1)) == "skipped"
    assert len(httpserver.log) == MAX_ATTEMPTS


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 422])
def test_other_4xx_fail_at_once(t0: datetime, status: int, httpserver: HTTPServer, endpoint: CallNotify) -> None:
    httpserver.expect_request("/hook").respond_with_data("", status=status)
    delivery = delivery_for(endpoint)
    assert attempt_delivery(delivery.id, now=t0) == "failed"
    delivery = reload(delivery)
    assert (delivery.state, delivery.attempts, delivery.last_status, delivery.last_error) == ("FAILED", 1, status, f"HTTP {status}")
    assert CallNotify.objects.get(pk=endpoint.pk).state == "ACTIVE"


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_408_429_and_5xx_are_retried(t0: datetime, status: int, httpserver: HTTPServer, endpoint: CallNotify) -> None:
    httpserver.expect_request("/hook").respond_with_data("", status=status)
    delivery = delivery_for(endpoint)
    assert attempt_delivery(delivery.id, now=t0) == "retry"
    assert reload(delivery).state == "PENDING"


def test_410_fails_and_disables_the_endpoint(t0: datetime, httpserver: HTTPServer, endpoint: CallNotify) -> None:
    httpserver.expect_request("/hook").respond_with_data("", status=410)
    first = delivery_for(endpoint, call_id="a")
    waiting = delivery_for(endpoint, call_id="b")
    attempt_delivery(first.id, now=t0)
    assert (reload(first).state, reload(first).last_status) == ("FAILED", 410)
    assert CallNotify.objects.get(pk=endpoint.pk).state == CallNotify.State.DISABLED
    # Queued before the 410: ends without contacting the endpoint again.
    attempt_delivery(waiting.id, now=t0)
    assert (reload(waiting).state, reload(waiting).last_error) == ("FAILED", "endpoint is disabled")
    # Stored after: a disabled endpoint gets no deliveries.
    assert post_event(endpoint.customer, call_id="c").deliveries == 0
    assert len(httpserver.log) == 1


def test_retry_after_seconds_is_honoured(t0: datetime, httpserver: HTTPServer, endpoint: CallNotify) -> None:
    httpserver.expect_request("/hook").respond_with_data("", status=429, headers={"Retry-After": "120"})
    delivery = delivery_for(endpoint)
    attempt_delivery(delivery.id, now=t0)
    assert reload(delivery).next_attempt_at == t0 + timedelta(seconds=120)


def test_retry_after_http_date_is_honoured(t0: datetime, httpserver: HTTPServer, endpoint: CallNotify) -> None:
    later = timezone.now().replace(microsecond=0) + timedelta(seconds=900)
    httpserver.expect_request("/hook").respond_with_data("", status=503, headers={"Retry-After": format_datetime(later, usegmt=True)})
    delivery = delivery_for(endpoint)
    attempt_delivery(delivery.id, now=t0)
    assert_within_jitter(reload(delivery).next_attempt_at - t0, 900 / 1.0)  # about 900 s, not the 5 s schedule


def test_a_short_retry_after_never_shortens_the_schedule(t0: datetime, httpserver: HTTPServer, endpoint: CallNotify) -> None:
    httpserver.expect_request("/hook").respond_with_data("", status=429, headers={"Retry-After": "2"})
    delivery = delivery_for(endpoint)
    now = t0
    for attempt in range(1, 4):
        assert attempt_delivery(delivery.id, now=now) == "retry"
        due = reload(delivery).next_attempt_at
        assert_within_jitter(due - now, RETRY_DELAYS[attempt - 1])  # 5 s, 30 s, 2 min: not 2 s
        now = due


@pytest.mark.parametrize(("attempt", "retry_after", "low", "high"), [
    (1, None, 4, 6), (1, 0.0, 4, 6), (1, 2.0, 4, 6), (1, 120.0, 120, 120),
    (3, 2.0, 96, 144), (3, 600.0, 600, 600), (6, 10.0, 2880, 4320), (6, 99999.0, 3600, 4320),
])
def test_retry_delay_takes_the_longer_of_schedule_and_retry_after(attempt, retry_after, low, high) -> None:
    from callnotify.delivery import retry_delay

    assert low <= retry_delay(attempt, retry_after) <= high


def test_absurd_retry_after_is_capped_at_an_hour(t0: datetime, httpserver: HTTPServer, endpoint: CallNotify) -> None:
    httpserver.expect_request("/hook").respond_with_data("", status=429, headers={"Retry-After": "99999999"})
    delivery = delivery_for(endpoint)
    attempt_delivery(delivery.id, now=t0)
    assert reload(delivery).next_attempt_at == t0 + timedelta(hours=1)


def test_attempt_interrupted_by_a_lost_worker_is_recorded_and_retried(t0: datetime, httpserver: HTTPServer, endpoint: CallNotify, settings) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    delivery = delivery_for(endpoint)
    assert claim(t0, only=[delivery.id]).jobs  # a worker took it ... and died
    assert attempt_delivery(delivery.id, now=t0 + timedelta(seconds=30)) == "skipped"  # lease still held
    later = t0 + timedelta(seconds=settings.CALLNOTIFY_LEASE_SECONDS + 1)
    assert attempt_delivery(delivery.id, now=later) == "delivered"
    delivery = reload(delivery)
    assert delivery.attempts == 2
    assert list(delivery.attempt_log.values_list("number", "outcome")) == [(1, "INTERRUPTED"), (2, "DELIVERED")]


def test_a_delivery_that_kills_every_worker_gives_up(t0: datetime, endpoint: CallNotify, settings, httpserver: HTTPServer) -> None:
    delivery = delivery_for(endpoint)
    now = t0
    for _ in range(MAX_ATTEMPTS):
        assert claim(now, only=[delivery.id]).jobs
        now += timedelta(seconds=settings.CALLNOTIFY_LEASE_SECONDS + 1)
    assert attempt_delivery(delivery.id, now=now) == "skipped"
    delivery = reload(delivery)
    assert (delivery.state, delivery.last_error) == ("FAILED", f"gave up after {MAX_ATTEMPTS} attempts")
    assert delivery.attempt_log.filter(outcome=Attempt.Outcome.INTERRUPTED).count() == MAX_ATTEMPTS
    assert httpserver.log == []
