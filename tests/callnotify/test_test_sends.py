"""Test sends cannot occupy the web threads (issue 8, item 2): a short deadline of their own, one
per customer and CALLNOTIFY_TEST_CONCURRENCY per process at once, CALLNOTIFY_TEST_RATE a minute."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from accounts.models import AccessLevel
from callnotify.models import CallNotify
from callnotify.testsend import sending_slot
from tests.accounts.factories import EmployeeFactory
from tests.callnotify.factories import CallNotifyFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback")]

TOO_MANY = {"error": {"code": "rate_limited", "status": 429, "message": "Too many requests"}}


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A real endpoint on 127.0.0.1 that takes connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


def path_of(endpoint: CallNotify) -> str:
    return f"/api/customer/{endpoint.customer_id}/callnotify/{endpoint.id}/test"


def owner_of(client_for, endpoint: CallNotify):
    return client_for(EmployeeFactory(customer=endpoint.customer, access_level=AccessLevel.OWNER))


def test_a_test_send_to_a_silent_endpoint_gives_up_at_its_own_short_deadline(client_for, silent_port, settings) -> None:
    settings.CALLNOTIFY_REQUEST_TIMEOUT = 30  # what deliveries get; a test send must not wait that long
    settings.CALLNOTIFY_TEST_TIMEOUT = 0.3
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{silent_port}/hook")
    body = owner_of(client_for, endpoint).post(path_of(endpoint)).json()
    assert (body["delivered"], body["status"], body["error"]) == (False, None, "timeout")
    assert body["durationMs"] < 10_000  # bounded by the test deadline, far below the delivery timeout


def test_one_test_send_per_customer_at_a_time(client_for, settings) -> None:
    endpoint = CallNotifyFactory(url="http://sink.example.com:9/hook")
    client = owner_of(client_for, endpoint)
    with sending_slot(endpoint.customer_id):  # a test send of this customer still running
        response = client.post(path_of(endpoint))
        assert (response.status_code, response.json()) == (429, TOO_MANY)
    assert client.post(path_of(endpoint)).status_code == 200  # the slot is free again


def test_test_sends_of_a_process_are_capped_across_customers(client_for, settings) -> None:
    settings.CALLNOTIFY_TEST_CONCURRENCY = 2
    endpoints = [CallNotifyFactory(url="http://sink.example.com:9/hook") for _ in range(3)]
    with sending_slot(endpoints[0].customer_id), sending_slot(endpoints[1].customer_id):
        response = owner_of(client_for, endpoints[2]).post(path_of(endpoints[2]))
        assert (response.status_code, response.json()) == (429, TOO_MANY)


def test_a_customer_may_start_only_so_many_test_sends_a_minute(client_for, settings) -> None:
    settings.CALLNOTIFY_TEST_RATE = 3
    endpoint, other = (CallNotifyFactory(url="http://sink.example.com:9/hook") for _ in range(2))
    client = owner_of(client_for, endpoint)
    statuses = [client.post(path_of(endpoint)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert owner_of(client_for, other).post(path_of(other)).status_code == 200  # another customer's own count
