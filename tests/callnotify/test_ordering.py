"""One call's events reach an endpoint in sequence order; one slow endpoint holds back no other (docs/callevents.md §5)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from pytest_httpserver import HTTPServer

from callnotify.delivery import attempt_delivery, claim, finish, perform
from callnotify.sweep import pick_due, sweep
from callnotify.models import CallNotify, Delivery
from tests.accounts.factories import CustomerFactory
from tests.callnotify.factories import CallNotifyFactory, post_event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback")]


@pytest.fixture
def t0() -> datetime:
    return timezone.now() + timedelta(seconds=5)  # after every delivery the test stores


def received_states(server: HTTPServer) -> list[str]:
    return [json.loads(request.get_data())["state"] for request, _ in server.log]


def call_deliveries(endpoint: CallNotify, call_id: str = "call-1") -> list[Delivery]:
    for state in ("RINGING", "ANSWERED", "HANGUP"):
        post_event(endpoint.customer, call_id=call_id, state=state)
    return list(Delivery.objects.filter(endpoint=endpoint, call_id=call_id).order_by("sequence"))


def test_later_events_wait_while_the_first_is_retried(httpserver: HTTPServer, t0: datetime) -> None:
    httpserver.expect_ordered_request("/hook").respond_with_data("", status=500)
    for _ in range(3):
        httpserver.expect_ordered_request("/hook").respond_with_data("ok")
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook")
    ringing, answered, hangup = call_deliveries(endpoint)
    assert [d.sequence for d in (ringing, answered, hangup)] == [1, 2, 3]

    assert attempt_delivery(ringing.id, now=t0) == "retry"
    # The later events' messages arrive meanwhile, in any order: they wait.
    assert attempt_delivery(hangup.id, now=t0) == "skipped"
    assert attempt_delivery(answered.id, now=t0) == "skipped"
    assert pick_due(t0) == []  # nothing of this call is due while RINGING waits for its retry

    retry_at = Delivery.objects.get(pk=ringing.pk).next_attempt_at
    assert attempt_delivery(hangup.id, now=retry_at) == "skipped"
    assert attempt_delivery(ringing.id, now=retry_at) == "delivered"
    assert attempt_delivery(hangup.id, now=retry_at) == "skipped"  # ANSWERED is still before it
    assert pick_due(retry_at) == [answered.id]
    assert attempt_delivery(answered.id, now=retry_at) == "delivered"
    assert attempt_delivery(hangup.id, now=retry_at) == "delivered"
    assert received_states(httpserver) == ["RINGING", "RINGING", "ANSWERED", "HANGUP"]


def test_a_failed_first_event_lets_the_next_one_go(httpserver: HTTPServer, t0: datetime) -> None:
    httpserver.expect_ordered_request("/hook").respond_with_data("", status=404)
    httpserver.expect_ordered_request("/hook").respond_with_data("ok")
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook")
    ringing, answered, _ = call_deliveries(endpoint)
    assert attempt_delivery(ringing.id, now=t0) == "failed"
    assert attempt_delivery(answered.id, now=t0) == "delivered"


def test_a_retrying_call_does_not_hold_back_other_calls(httpserver: HTTPServer, t0: datetime) -> None:
    httpserver.expect_ordered_request("/hook").respond_with_data("", status=500)
    httpserver.expect_ordered_request("/hook").respond_with_data("ok")
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook")
    first = call_deliveries(endpoint, "call-a")[0]
    other = call_deliveries(endpoint, "call-b")[0]
    assert attempt_delivery(first.id, now=t0) == "retry"
    assert attempt_delivery(other.id, now=t0) == "delivered"


def test_a_busy_endpoint_defers_its_own_deliveries_but_not_others(httpserver: HTTPServer, settings, t0: datetime) -> None:
    settings.CALLNOTIFY_ENDPOINT_CONCURRENCY = 1
    httpserver.expect_request("/hook").respond_with_data("ok")
    customer = CustomerFactory()
    slow = CallNotifyFactory(customer=customer, url=f"http://sink.example.com:{httpserver.port}/slow")
    healthy = CallNotifyFactory(customer=customer, url=f"http://sink.example.com:{httpserver.port}/hook")
    post_event(customer, call_id="a")
    post_event(customer, call_id="b")
    slow_a, slow_b = Delivery.objects.filter(endpoint=slow).order_by("call_id")
    assert claim(slow_a.id, t0) is not None  # a worker is stuck on the slow endpoint

    assert attempt_delivery(slow_b.id, now=t0) == "skipped"
    assert Delivery.objects.get(pk=slow_b.pk).deferred
    # Fair share: the busy endpoint gets nothing more, the healthy one its share (1 here).
    [picked] = pick_due(t0)
    assert Delivery.objects.get(pk=picked).endpoint_id == healthy.id
    for d in Delivery.objects.filter(endpoint=healthy):
        assert attempt_delivery(d.id, now=t0) == "delivered"


def test_sweep_requeues_only_overdue_deliveries(settings, t0: datetime, httpserver: HTTPServer) -> None:
    settings.CALLNOTIFY_SWEEP_GRACE_SECONDS = 60
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook")
    [ringing, answered, hangup] = call_deliveries(endpoint)
    assert sweep(now=t0) == []  # just stored: its own message is still on the way
    assert sweep(now=t0 + timedelta(seconds=61)) == [ringing.id]  # each call's earliest only
    assert httpserver.log == []  # the sweep queues, it does not send


def test_new_deliveries_to_a_busy_endpoint_are_set_aside_and_released_as_attempts_end(httpserver: HTTPServer, settings) -> None:
    settings.CALLNOTIFY_ENDPOINT_CONCURRENCY = 1
    httpserver.expect_request("/hook").respond_with_data("ok")
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook")
    first = Delivery.objects.get(event=post_event(endpoint.customer, call_id="a").event)
    job = claim(first.id, timezone.now())
    assert job is not None
    second = Delivery.objects.get(event=post_event(endpoint.customer, call_id="b").event)
    assert second.deferred  # not queued: the endpoint has its one attempt in flight

    finish(job, perform(job), timezone.now())  # the attempt ends and releases the one set aside
    assert not Delivery.objects.get(pk=second.pk).deferred
    assert attempt_delivery(second.id) == "delivered"
