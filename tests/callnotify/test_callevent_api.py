"""POST /api/callevent (docs/callevents.md §1, docs/api.md §3, §9-10): who may post, validation, idempotency, deliveries."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import AccessLevel, Customer
from callnotify.models import CallEvent, CallNotify, Delivery
from tests.accounts.factories import CustomerFactory, EmployeeFactory
from tests.callnotify.factories import CallNotifyFactory, service_account

pytestmark = pytest.mark.django_db
URL = "/api/callevent"


@pytest.fixture
def customer() -> Customer:
    return CustomerFactory()


def event(owner: Customer, **changes: Any) -> dict[str, Any]:
    body = {
        "callId": "a84b4c76e66710@pc33.example.com", "customer": owner.id, "type": "SIP", "direction": "INBOUND",
        "state": "RINGING", "aNumber": "+4512345678", "bNumber": "+4570305050", "timestamp": "2026-11-22T10:15:00Z",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "status": 422, "message": message, "path": code}}


def test_event_is_stored_with_a_delivery_per_matching_endpoint(switch, customer: Customer) -> None:
    sip = CallNotifyFactory(customer=customer, selection="SIP")
    everything = CallNotifyFactory(customer=customer, selection="ALL")
    CallNotifyFactory(customer=customer, selection="MVNO")
    CallNotifyFactory(customer=customer, selection="ALL", state="DISABLED")
    CallNotifyFactory(selection="ALL")  # another customer's

    response = switch.post(URL, event(customer, additional={"sbcServer": "sbc1", "unknown": "dropped"}), format="json")

    assert response.status_code == 202
    stored = CallEvent.objects.get()
    assert response.json() == {"_id": stored.id, "sequence": 1, "deliveries": 2}
    assert stored.additional == {"sbcServer": "sbc1"}
    assert set(Delivery.objects.values_list("endpoint_id", flat=True)) == {sip.id, everything.id}
    assert set(Delivery.objects.values_list("state", "sequence", "call_id")) == {("PENDING", 1, stored.call_id)}


def test_sequence_counts_per_call_and_reposts_are_idempotent(switch, customer: Customer) -> None:
    CallNotifyFactory(customer=customer)
    first = switch.post(URL, event(customer), format="json").json()
    second = switch.post(URL, event(customer, state="ANSWERED"), format="json").json()
    again = switch.post(URL, event(customer, state="RINGING", aNumber="+4599999999"), format="json")
    other_call = switch.post(URL, event(customer, callId="other"), format="json").json()

    assert (first["sequence"], second["sequence"], other_call["sequence"]) == (1, 2, 1)
    assert again.status_code == 202 and again.json() == {**first, "deliveries": 0}
    assert CallEvent.objects.count() == 3 and Delivery.objects.count() == 3
    assert CallEvent.objects.get(pk=first["_id"]).a_number == "+4512345678"


@pytest.mark.parametrize("state", [Customer.State.BLOCKED, Customer.State.DELETED])
def test_events_of_an_inactive_customer_are_stored_but_not_delivered(switch, state: str) -> None:
    customer = CustomerFactory(state=state)
    CallNotifyFactory(customer=customer)
    response = switch.post(URL, event(customer), format="json")
    assert response.status_code == 202 and response.json()["deliveries"] == 0
    assert CallEvent.objects.count() == 1 and Delivery.objects.count() == 0


@pytest.mark.parametrize("levels", [1, 3])
def test_events_of_a_customer_under_a_deleted_reseller_are_taken_as_a_deleted_customers(switch, levels: int) -> None:
    """A reseller DELETED at any level above: stored with no deliveries, single and in a batch."""
    top = CustomerFactory(is_reseller=True, state=Customer.State.DELETED)
    parent = top
    for _ in range(levels - 1):
        parent = CustomerFactory(is_reseller=True, parent_reseller=parent)
    customer = CustomerFactory(parent_reseller=parent)
    CallNotifyFactory(customer=customer)
    response = switch.post(URL, event(customer), format="json")
    assert response.status_code == 202 and response.json()["deliveries"] == 0
    batch = switch.post(URL, [event(customer, callId="second")], format="json")
    assert batch.status_code == 202 and batch.json()[0]["deliveries"] == 0
    assert CallEvent.objects.count() == 2 and Delivery.objects.count() == 0


@pytest.mark.parametrize(
    ("changes", "code", "message"),
    [
        ({"callId": ...}, "callId", "Invalid callId"),
        ({"callId": ""}, "callId", "Invalid callId"),
        ({"callId": "x" * 256}, "callId", "Invalid callId"),
        ({"callId": "tab\there"}, "callId", "Invalid callId"),
        ({"callId": 12}, "callId", "Invalid callId"),
        ({"customer": ...}, "customer", "Invalid customer"),
        ({"customer": "5f1e0a0b0c0d0e0f10111213"}, "customer", "Customer not found"),
        ({"customer": "nonsense"}, "customer", "Customer not found"),
        ({"type": "ISDN"}, "type", "Invalid type"),
        ({"type": ...}, "type", "Invalid type"),
        ({"direction": "SIDEWAYS"}, "direction", "Invalid direction"),
        ({"state": "ringing"}, "state", "Invalid state"),
        ({"aNumber": "4512345678"}, "aNumber", "Invalid aNumber"),
        ({"aNumber": "+45 1234"}, "aNumber", "Invalid aNumber"),
        ({"bNumber": "anonymous"}, "bNumber", "Invalid bNumber"),
        ({"bNumber": None}, "bNumber", "Invalid bNumber"),
        ({"timestamp": "yesterday"}, "timestamp", "Invalid timestamp"),
        ({"timestamp": ...}, "timestamp", "Invalid timestamp"),
        ({"timestamp": "0001-01-01T00:00:00+01:00"}, "timestamp", "Invalid timestamp"),  # out of range once in UTC
        ({"duration": -1}, "duration", "Invalid duration"),
        ({"duration": "ten"}, "duration", "Invalid duration"),
        ({"duration": "5"}, "duration", "Invalid duration"),  # whole numbers only, as JSON numbers
        ({"duration": "5.0"}, "duration", "Invalid duration"),
        ({"duration": 100.0}, "duration", "Invalid duration"),
        ({"duration": 5.5}, "duration", "Invalid duration"),
        ({"duration": True}, "duration", "Invalid duration"),
        ({"cause": "x" * 65}, "cause", "Invalid cause"),
        ({"additional": ["a"]}, "additional", "Invalid additional"),
        ({"additional": {"sbcServer": 5}}, "additional", "Invalid additional"),
        ({"additional": {"mvno": "x" * 256}}, "additional", "Invalid additional"),
    ],
)
def test_invalid_events_are_refused_with_the_documented_error(switch, customer: Customer, changes, code, message) -> None:
    response = switch.post(URL, event(customer, **changes), format="json")
    assert (response.status_code, response.json()) == (422, error(code, message))
    assert CallEvent.objects.count() == 0


def test_several_failures_answer_multiple(switch, customer: Customer) -> None:
    response = switch.post(URL, event(customer, type="X", bNumber="1"), format="json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "multiple"
    assert [e["code"] for e in response.json()["error"]["inner"]] == ["type", "bNumber"]


def test_optional_fields_are_stored(switch, customer: Customer) -> None:
    body = event(customer, state="HANGUP", duration=61, cause="NORMAL_CLEARING", aNumber="anonymous",
                 timestamp="2026-11-22T11:15:00+01:00")
    assert switch.post(URL, body, format="json").status_code == 202
    stored = CallEvent.objects.get()
    assert (stored.duration, stored.cause, stored.a_number) == (61, "NORMAL_CLEARING", "anonymous")
    assert stored.timestamp.isoformat() == "2026-11-22T10:15:00+00:00"


def test_body_that_is_not_an_object_is_a_bad_request(switch) -> None:
    response = switch.post(URL, ["x"], format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize(
    ("level", "status"),
    [(AccessLevel.OWNER, 403), (AccessLevel.RESELLER_ADMIN, 403), (AccessLevel.ADMIN, 202)],
)
def test_only_service_accounts_and_admins_may_post(client_for, customer: Customer, level: str, status: int) -> None:
    response = client_for(EmployeeFactory(access_level=level, customer=customer)).post(URL, event(customer), format="json")
    assert response.status_code == status
    if status == 403:
        assert response.json() == {"error": {"code": "access_denied", "status": 403, "message": "Insufficient access level"}}
        assert CallEvent.objects.count() == 0


def test_anonymous_posts_are_refused(api_client, customer: Customer) -> None:
    response = api_client.post(URL, event(customer), format="json")
    assert response.status_code == 401 and response.json()["error"]["code"] == "credentials_invalid"


def test_disabled_endpoint_state_is_respected_per_selection(switch, customer: Customer) -> None:
    CallNotifyFactory(customer=customer, selection="MVNO")
    assert switch.post(URL, event(customer, type="MVNO"), format="json").json()["deliveries"] == 1
    CallNotify.objects.update(state="DISABLED")
    assert switch.post(URL, event(customer, type="MVNO", state="HANGUP"), format="json").json()["deliveries"] == 0
