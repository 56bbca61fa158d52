"""With no broker, the web process delivers by itself in a background thread (docs/callevents.md §6).

The test thread stays off the database while the runner works (it watches the sink instead):
the in-memory SQLite test database locks whole tables between threads, which a real WAL
database file does not.
"""

from __future__ import annotations

import time

import pytest
from django.utils import timezone
from pytest_httpserver import HTTPServer

from callnotify import runner
from callnotify.models import Delivery
from tests.callnotify.factories import CallNotifyFactory, post_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("loopback")]


@pytest.fixture(autouse=True)
def _two_threads(settings):
    settings.CALLNOTIFY_IN_PROCESS = "on"  # under pytest "auto" stays off
    settings.CALLNOTIFY_THREADS = 2
    yield
    runner.stop()


def wait_for_requests(server: HTTPServer, count: int, timeout: float = 10.0) -> bool:
    """Waits for background work (not a timing assertion: the bound only stops a hung test)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and len(server.log) < count:
        time.sleep(0.02)
    return len(server.log) >= count


def test_importing_the_wsgi_app_under_pytest_starts_no_runner(settings) -> None:
    import importlib

    settings.CALLNOTIFY_IN_PROCESS = "auto"
    import telecomx.wsgi

    importlib.reload(telecomx.wsgi)  # run its start-up code whether or not it was imported before
    assert runner.current() is None


def test_auto_stays_off_under_the_test_runner(settings) -> None:
    settings.CALLNOTIFY_IN_PROCESS = "auto"
    assert runner.start() is None and runner.current() is None


def test_runner_is_not_started_when_a_broker_does_the_work(settings) -> None:
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/15"
    assert runner.start() is None and runner.current() is None


def test_stored_events_are_delivered_by_the_runner_in_order(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook")
    for state in ("RINGING", "ANSWERED", "HANGUP"):
        post_event(endpoint.customer, state=state)
    assert runner.start() is not None
    assert wait_for_requests(httpserver, 3)
    runner.stop()  # waits for the attempts in flight to be recorded
    assert [r.get_json()["state"] for r, _ in httpserver.log] == ["RINGING", "ANSWERED", "HANGUP"]
    assert set(Delivery.objects.values_list("state", "attempts")) == {("DELIVERED", 1)}


def test_runner_picks_up_retries_when_they_fall_due(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/hook").respond_with_data("", status=500)
    httpserver.expect_ordered_request("/hook").respond_with_data("ok")
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook")
    post_event(endpoint.customer)
    runner.start()
    assert wait_for_requests(httpserver, 1)
    runner.stop()
    assert Delivery.objects.get().state == "PENDING"
    # Bring the retry forward rather than sleeping through the 5 s of the schedule; a new
    # process (here: a new runner) finds it in the database.
    Delivery.objects.update(next_attempt_at=timezone.now())
    runner.start()
    assert wait_for_requests(httpserver, 2)
    runner.stop()
    assert Delivery.objects.get().state == "DELIVERED" and Delivery.objects.get().attempts == 2
