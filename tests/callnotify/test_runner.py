"""With no broker, the web process delivers by itself in a background thread (events.md §6)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.utils import timezone
from pytest_httpserver import HTTPServer

from callnotify import runner
from callnotify.models import Delivery
from tests.callnotify.conftest import post_event
from tests.callnotify.factories import CallNotifyFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("loopback")]


@pytest.fixture
def delivering(settings) -> Iterator[runner.Runner]:
    settings.CALLNOTIFY_THREADS = 2
    started = runner.start()
    assert started is not None
    yield started
    runner.stop()


def wait_until(predicate, timeout: float = 10.0) -> bool:
    """Waits for background work (not a timing assertion: the bound only stops a hung test)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_no_runner_runs_unless_started() -> None:
    assert runner.current() is None


def test_runner_is_not_started_when_a_broker_does_the_work(settings) -> None:
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/15"
    assert runner.start() is None and runner.current() is None


def test_stored_events_are_delivered_by_the_runner(delivering: runner.Runner, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook")
    for state in ("RINGING", "ANSWERED", "HANGUP"):
        post_event(endpoint.customer, state=state)
    assert wait_until(lambda: Delivery.objects.filter(state="DELIVERED").count() == 3)
    assert [r.get_json()["state"] for r, _ in httpserver.log] == ["RINGING", "ANSWERED", "HANGUP"]


def test_runner_picks_up_retries_when_they_fall_due(delivering: runner.Runner, httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/hook").respond_with_data("", status=500)
    httpserver.expect_ordered_request("/hook").respond_with_data("ok")
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook")
    post_event(endpoint.customer)
    assert wait_until(lambda: Delivery.objects.filter(attempts=1, state="PENDING", lease_until=None).exists())
    # Bring the retry forward rather than sleeping through the 5 s of the schedule.
    Delivery.objects.update(next_attempt_at=timezone.now())
    runner.wake()
    assert wait_until(lambda: Delivery.objects.filter(state="DELIVERED", attempts=2).exists())
    assert len(httpserver.log) == 2
