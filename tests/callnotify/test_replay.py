"""Customers' replay (retry one failed delivery), recovery (every failure since a time) and call event list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from pytest_httpserver import HTTPServer

from accounts.models import AccessLevel
from callnotify.delivery import attempt_delivery
from callnotify.models import Attempt, CallNotify, Delivery
from callnotify.views import RECOVER_BATCH
from tests.accounts.factories import CustomerFactory, EmployeeFactory
from tests.callnotify.factories import T0, post_event
from tests.callnotify.factories import CallNotifyFactory

pytestmark = pytest.mark.django_db


def error(status: int, code: str, message: str, path: str | None = None) -> dict:
    body = {"code": code, "status": status, "message": message}
    if path:
        body["path"] = path
    return {"error": body}


@pytest.fixture
def endpoint(httpserver: HTTPServer, loopback) -> CallNotify:
    return CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook")


@pytest.fixture
def manager(endpoint, client_for):
    return client_for(EmployeeFactory(customer=endpoint.customer, access_level=AccessLevel.MANAGER))


def failed_delivery(endpoint: CallNotify, httpserver: HTTPServer, call_id: str = "r-1") -> Delivery:
    httpserver.expect_oneshot_request("/hook").respond_with_data("no", status=400)  # permanent: FAILED at once
    delivery = Delivery.objects.get(event=post_event(endpoint.customer, call_id=call_id).event, endpoint=endpoint)
    assert attempt_delivery(delivery.pk, now=timezone.now() + timedelta(seconds=1)) == "failed"
    return delivery


def test_a_manager_retries_a_failed_delivery_and_the_endpoint_receives_it(endpoint, httpserver, manager) -> None:
    delivery = failed_delivery(endpoint, httpserver)
    url = f"/api/customer/{endpoint.customer_id}/callnotify/{endpoint.pk}/deliveries/{delivery.pk}/retry"

    response = manager.post(url)

    assert response.status_code == 202
    body = response.json()
    assert (body["_id"], body["state"], body["attempts"]) == (delivery.pk, "PENDING", 0)
    httpserver.expect_oneshot_request("/hook").respond_with_data("ok", status=200)
    assert attempt_delivery(delivery.pk, now=timezone.now() + timedelta(seconds=1)) == "delivered"
    assert len(httpserver.log) == 2 and httpserver.log[1][1].status_code == 200
    assert list(Attempt.objects.filter(delivery=delivery).values_list("outcome", flat=True)) == ["FAILED", "DELIVERED"]
    assert manager.post(url).json() == error(409, "state", "Delivery is DELIVERED: only a FAILED delivery can be retried")


def test_retry_refusals(endpoint, httpserver, manager, client_for) -> None:
    delivery = failed_delivery(endpoint, httpserver)
    base = f"/api/customer/{endpoint.customer_id}/callnotify/{endpoint.pk}/deliveries"
    assert manager.post(f"{base}/{'c' * 24}/retry").json() == error(404, "not_found", "Delivery not found")
    assert manager.post(f"{base}/not-an-id/retry").json() == error(404, "not_found", "Delivery not found")
    viewer = client_for(EmployeeFactory(customer=endpoint.customer, access_level=AccessLevel.VIEWER))
    response = viewer.post(f"{base}/{delivery.pk}/retry")
    assert (response.status_code, response.json()) == (403, error(403, "access_denied", "Insufficient access level"))
    stranger = client_for(EmployeeFactory(customer=CustomerFactory(), access_level=AccessLevel.OWNER))
    assert stranger.post(f"{base}/{delivery.pk}/retry").json() == error(404, "customer", "Customer not found")
    other = CallNotifyFactory(customer=endpoint.customer)  # the delivery is not this endpoint's
    url = f"/api/customer/{endpoint.customer_id}/callnotify/{other.pk}/deliveries/{delivery.pk}/retry"
    assert manager.post(url).json() == error(404, "not_found", "Delivery not found")
    CallNotify.objects.filter(pk=endpoint.pk).update(state="DISABLED")
    assert manager.post(f"{base}/{delivery.pk}/retry").json() == error(409, "state", "Call notify is DISABLED: set it ACTIVE first")
    assert Delivery.objects.get(pk=delivery.pk).state == "FAILED"


def test_recover_queues_the_failures_since_a_time_only(endpoint, httpserver, manager) -> None:
    old, new1, new2 = (failed_delivery(endpoint, httpserver, f"rc-{n}") for n in range(3))
    since = timezone.now() - timedelta(minutes=5)
    Delivery.objects.filter(pk=old.pk).update(created_at=since - timedelta(seconds=1))
    url = f"/api/customer/{endpoint.customer_id}/callnotify/{endpoint.pk}/recover"

    response = manager.post(url, {"since": since.isoformat()}, format="json")

    assert (response.status_code, response.json()) == (202, {"queued": 2, "more": False})
    states = dict(Delivery.objects.values_list("id", "state"))
    assert (states[old.pk], states[new1.pk], states[new2.pk]) == ("FAILED", "PENDING", "PENDING")
    assert manager.post(url, {"since": since.isoformat()}, format="json").json() == {"queued": 0, "more": False}


def test_recover_never_takes_the_customers_pending_deliveries_past_its_bound(endpoint, httpserver, manager) -> None:
    failed = [failed_delivery(endpoint, httpserver, f"rb-{n}") for n in range(3)]
    since = (timezone.now() - timedelta(minutes=5)).isoformat()
    url = f"/api/customer/{endpoint.customer_id}/callnotify/{endpoint.pk}/recover"
    other = CallNotifyFactory(customer=endpoint.customer, url="http://192.0.2.1:4000/x")  # nothing is sent in this test
    event = post_event(endpoint.customer, call_id="flood").event
    Delivery.objects.bulk_create(Delivery(event=event, endpoint=other, call_id=f"flood-{n}", sequence=0,
                                          next_attempt_at=timezone.now()) for n in range(RECOVER_BATCH - 3))
    # The customer has 9,997 + 2 PENDING (the flood, and the new event to both endpoints): room for 1.
    assert manager.post(url, {"since": since}, format="json").json() == {"queued": 1, "more": True}
    assert manager.post(url, {"since": since}, format="json").json() == {"queued": 0, "more": True}
    Delivery.objects.filter(endpoint=other).update(state="DELIVERED")
    assert manager.post(url, {"since": since}, format="json").json() == {"queued": 2, "more": False}
    assert Delivery.objects.filter(pk__in=[d.pk for d in failed], state="PENDING").count() == 3


@pytest.mark.parametrize("body", [{}, {"since": "yesterday"}, {"since": 5}, {"since": None}, [], {"since": "2026-13-40T00:00:00Z"},
                                  {"since": "0001-01-01T00:00:00+14:00"}, {"since": "2026-11-23T10:00:00" + "0" * 100}])
def test_recover_needs_a_time(endpoint, manager, body) -> None:
    response = manager.post(f"/api/customer/{endpoint.customer_id}/callnotify/{endpoint.pk}/recover", body, format="json")
    assert (response.status_code, response.json()) == (422, error(422, "since", "Invalid since", "since"))


def test_replays_are_rate_limited_per_employee(endpoint, manager, settings) -> None:
    settings.API_RATE_REPLAY = "2/min"
    url = f"/api/customer/{endpoint.customer_id}/callnotify/{endpoint.pk}/recover"
    assert [manager.post(url, {"since": T0.isoformat()}, format="json").status_code for _ in range(3)] == [202, 202, 429]
    assert manager.post(url, {"since": T0.isoformat()}, format="json").json()["error"]["code"] == "rate_limited"


def test_call_events_are_listed_newest_first_paged_and_filtered(client_for) -> None:
    customer = CustomerFactory()
    for n in range(5):
        post_event(customer, call_id=f"ev-{n}", timestamp=T0 + timedelta(minutes=n))
    post_event(customer, call_id="ev-4", state="ANSWERED", timestamp=T0 + timedelta(minutes=4, seconds=30))
    post_event(CustomerFactory(), call_id="theirs")
    client = client_for(EmployeeFactory(customer=customer, access_level=AccessLevel.VIEWER))
    url = f"/api/customer/{customer.pk}/callevent"

    page = client.get(url, {"limit": 2}).json()
    assert (page["offset"], page["limit"], page["total"]) == (0, 2, 6)
    assert [(e["callId"], e["state"]) for e in page["callEvents"]] == [("ev-4", "ANSWERED"), ("ev-4", "RINGING")]
    assert [e["callId"] for e in client.get(url, {"offset": 2, "limit": 2}).json()["callEvents"]] == ["ev-3", "ev-2"]
    assert [e["sequence"] for e in client.get(url, {"callId": "ev-4"}).json()["callEvents"]] == [2, 1]
    window = {"since": (T0 + timedelta(minutes=1)).isoformat(), "until": (T0 + timedelta(minutes=3)).isoformat()}
    assert [e["callId"] for e in client.get(url, window).json()["callEvents"]] == ["ev-2", "ev-1"]
    assert client.get(url, {"callId": "theirs"}).json()["total"] == 0
    for bad in ("2026-02-30T00:00:00", "0001-01-01T00:00:00+05:00"):
        assert client.get(url, {"until": bad}).json() == error(400, "bad_request", "until must be an ISO 8601 time", "until")
    response = client.get(url, {"since": "soon"})
    assert (response.status_code, response.json()) == (400, error(400, "bad_request", "since must be an ISO 8601 time", "since"))
    assert client.get(url, {"limit": 0}).status_code == 400


def test_options_describes_the_new_endpoints(endpoint, manager) -> None:
    base = f"/api/customer/{endpoint.customer_id}/callnotify/{endpoint.pk}"
    for url in (f"{base}/recover", f"{base}/deliveries/{'c' * 24}/retry", f"/api/customer/{endpoint.customer_id}/callevent"):
        assert manager.options(url).status_code == 200, url
