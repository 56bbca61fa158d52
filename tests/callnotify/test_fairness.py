"""A dead endpoint holds neither the healthy endpoints of its batch nor the worker (docs/callevents.md §5)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from callnotify.delivery import run, wait_idle
from callnotify.models import Attempt, Delivery
from tests.accounts.factories import CustomerFactory
from tests.callnotify.factories import post_event
from tests.callnotify.factories import CallNotifyFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("loopback")]


@pytest.fixture
def blackhole() -> Iterator[int]:
    """Accepts connections and never answers."""
    sock = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    sock.close()


def test_healthy_endpoints_are_recorded_without_waiting_for_a_dead_one(httpserver: HTTPServer, blackhole: int, settings) -> None:
    settings.CALLNOTIFY_REQUEST_TIMEOUT = 4
    settings.CALLNOTIFY_CLAIM_SPLIT = 1  # both endpoints in one batch
    httpserver.expect_request("/hook").respond_with_data("ok")
    customer = CustomerFactory()
    dead = CallNotifyFactory(customer=customer, url=f"http://sink.example.com:{blackhole}/dead")
    healthy = CallNotifyFactory(customer=customer, url=f"http://sink.example.com:{httpserver.port}/hook")
    for n in range(3):
        post_event(customer, call_id=f"c{n}")

    said = run(wait_seconds=10)  # returns once the healthy lanes are done, not at the dead one's timeout

    healthy_ids = set(Delivery.objects.filter(endpoint=healthy).values_list("id", flat=True))
    assert said == dict.fromkeys(healthy_ids, "delivered")
    assert set(Delivery.objects.filter(endpoint=healthy).values_list("state", flat=True)) == {"DELIVERED"}
    # The dead endpoint's attempts still run in the background under their leases ...
    assert Delivery.objects.filter(endpoint=dead, lease_until__isnull=False).count() == 3
    assert run() == {}  # ... which keep it out of any other batch
    assert wait_idle(30)
    # ... and are recorded when they time out.
    assert list(Attempt.objects.filter(delivery__endpoint=dead).values_list("outcome", "error")) == [("RETRY", "timeout")] * 3
    assert Delivery.objects.filter(endpoint=dead, lease_until__isnull=False).count() == 0
