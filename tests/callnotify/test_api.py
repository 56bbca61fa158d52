"""Call notify CRUD on the wire (docs/api.md §1, §5): shapes, partial updates, errors, what is stored."""

from __future__ import annotations

import pytest

from accounts.models import AccessLevel
from callnotify.models import CallNotify
from tests.accounts.factories import CustomerFactory, EmployeeFactory
from tests.callnotify.factories import CallNotifyFactory

pytestmark = pytest.mark.django_db

NOT_FOUND = {"error": {"code": "not_found", "status": 404, "message": "Call notify not found"}}
BODY = {"url": "http://100.64.123.100:4000/call", "method": "POSTJSON", "selection": "ALL"}


@pytest.fixture
def owner():
    return EmployeeFactory(access_level=AccessLevel.OWNER)


@pytest.fixture
def client(owner, client_for):
    return client_for(owner)


@pytest.fixture
def base(owner):
    return f"/api/customer/{owner.customer_id}/callnotify"


WINDOW = {"delivered": 0, "failed": 0, "p50DurationMs": None, "p95DurationMs": None}
NO_ATTEMPTS = {"lastHour": WINDOW, "lastDay": WINDOW, "lastSuccessAt": None, "lastFailureAt": None,
               "consecutiveFailures": 0, "failingSince": None, "disabledReason": None}


def test_create_answers_201_with_the_stored_item(client, base, owner):
    response = client.post(base, BODY, format="json")
    assert response.status_code == 201
    item = CallNotify.objects.get()
    assert response.json() == {"_id": item.pk, **BODY, "customer": owner.customer_id, "state": "ACTIVE", "health": NO_ATTEMPTS}
    assert len(item.pk) == 24 and item.pk == item.pk.lower()
    assert (item.customer_id, item.url, item.method, item.selection) == (owner.customer_id, *BODY.values())


def test_server_owned_and_unknown_properties_are_ignored(client, base, owner):
    other = CustomerFactory()
    response = client.post(base, {**BODY, "_id": "a" * 24, "customer": other.pk, "colour": "blue"}, format="json")
    assert response.status_code == 201
    item = CallNotify.objects.get()
    assert item.pk != "a" * 24 and item.customer_id == owner.customer_id


def test_list_is_a_plain_array_of_the_customers_items_only(client, base, owner):
    mine = CallNotifyFactory.create_batch(3, customer=owner.customer)
    CallNotifyFactory(customer=CustomerFactory())
    response = client.get(base)
    assert response.status_code == 200
    assert [item["_id"] for item in response.json()] == sorted(i.pk for i in mine)


def test_list_query_count_does_not_grow_with_items(client, base, owner, django_assert_num_queries):
    CallNotifyFactory.create_batch(2, customer=owner.customer)
    with django_assert_num_queries(3) as few:  # token (with the customer), items, health (its row and both windows)
        assert len(client.get(base).json()) == 2
    CallNotifyFactory.create_batch(40, customer=owner.customer)
    with django_assert_num_queries(len(few.captured_queries)):
        assert len(client.get(base).json()) == 42


def test_create_reads_only_what_it_must(client, base, owner, django_assert_max_num_queries):
    """The credential (with the customer), then one statement that inserts the item unless the
    customer's count is at its limit: no transaction, not the URL's customer again (it was found in
    reach), not the new id's uniqueness (the database's key answers that), not the health of an
    item with no attempt yet."""
    with django_assert_max_num_queries(2) as captured:
        response = client.post(base, BODY, format="json")
    assert response.status_code == 201
    assert response.json()["health"]["lastDay"] == {"delivered": 0, "failed": 0, "p50DurationMs": None, "p95DurationMs": None}
    assert captured.captured_queries[1]["sql"].startswith('INSERT INTO "callnotify_callnotify"')


@pytest.mark.parametrize("method", ["post", "patch"])
def test_update_is_partial(client, base, owner, method):
    item = CallNotifyFactory(customer=owner.customer, method="GET1", selection="SIP")
    response = getattr(client, method)(f"{base}/{item.pk}", {"selection": "MVNO"}, format="json")
    assert response.status_code == 200
    assert response.json()["selection"] == "MVNO" and response.json()["method"] == "GET1"
    item.refresh_from_db()
    assert (item.method, item.selection, item.url) == ("GET1", "MVNO", item.url)


def test_update_with_an_invalid_value_changes_nothing(client, base, owner):
    item = CallNotifyFactory(customer=owner.customer, selection="SIP")
    response = client.patch(f"{base}/{item.pk}", {"selection": "MVNO", "url": "http://127.0.0.1/"}, format="json")
    assert response.json() == {
        "error": {"code": "url", "status": 422, "message": "URL points to an invalid IP address", "path": "url"}
    }
    item.refresh_from_db()
    assert item.selection == "SIP"


def test_state_can_be_set_and_is_validated(client, base, owner):
    item = CallNotifyFactory(customer=owner.customer)
    assert client.patch(f"{base}/{item.pk}", {"state": "DISABLED"}, format="json").json()["state"] == "DISABLED"
    response = client.patch(f"{base}/{item.pk}", {"state": "ASLEEP"}, format="json")
    assert response.json()["error"] == {"code": "state", "status": 422, "message": "Invalid state", "path": "state"}


def test_get_and_delete(client, base, owner):
    item = CallNotifyFactory(customer=owner.customer)
    assert client.get(f"{base}/{item.pk}").json()["_id"] == item.pk
    response = client.delete(f"{base}/{item.pk}")
    assert (response.status_code, response.json()) == (200, {"success": True})
    assert not CallNotify.objects.exists()


def test_ids_in_urls_match_case_insensitively_and_take_a_trailing_slash(client, owner):
    item = CallNotifyFactory(customer=owner.customer)
    response = client.get(f"/api/customer/{owner.customer_id.upper()}/callnotify/{item.pk.upper()}/")
    assert response.status_code == 200 and response.json()["_id"] == item.pk


@pytest.mark.parametrize("item_id", ["0" * 24, "not-an-id", "zz" * 12, "a" * 25])
@pytest.mark.parametrize("verb", ["get", "post", "patch", "delete"])
def test_unknown_or_malformed_item_is_call_notify_not_found(client, base, item_id, verb):
    response = getattr(client, verb)(f"{base}/{item_id}", {"method": "GET1"}, format="json")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_item_of_another_customer_is_not_found(client, base):
    foreign = CallNotifyFactory(customer=CustomerFactory())
    assert client.get(f"{base}/{foreign.pk}").json() == NOT_FOUND
    assert client.delete(f"{base}/{foreign.pk}").json() == NOT_FOUND
    assert CallNotify.objects.filter(pk=foreign.pk).exists()


def test_all_failures_of_one_request_are_reported_together(client, base):
    response = client.post(base, {"url": "ftp://x", "method": 5}, format="json")
    assert response.status_code == 422
    assert response.json() == {
        "error": {
            "code": "multiple",
            "status": 422,
            "message": "Multiple errors",
            "inner": [
                {"code": "url", "status": 422, "message": "URL protocol is invalid", "path": "url"},
                {"code": "method", "status": 422, "message": "Invalid method", "path": "method"},
                {"code": "selection", "status": 422, "message": "Invalid selection", "path": "selection"},
            ],
        }
    }
    assert not CallNotify.objects.exists()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({**BODY, "method": "POST"}, "method", "Invalid method"),
        ({**BODY, "method": None}, "method", "Invalid method"),
        ({**BODY, "method": "postjson"}, "method", "Invalid method"),
        ({"url": BODY["url"], "selection": "ALL"}, "method", "Invalid method"),
        ({**BODY, "selection": "BOTH"}, "selection", "Invalid selection"),
        ({**BODY, "selection": True}, "selection", "Invalid selection"),
        ({"url": BODY["url"], "method": "GET1"}, "selection", "Invalid selection"),
    ],
)
def test_method_and_selection_errors(client, base, body, field, message):
    response = client.post(base, body, format="json")
    assert response.json() == {"error": {"code": field, "status": 422, "message": message, "path": field}}


@pytest.mark.parametrize("payload", ["[1, 2]", '"text"', "null", "42"])
def test_a_body_that_is_not_an_object_is_a_bad_request(client, base, payload):
    response = client.post(base, payload, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_put_is_not_offered(client, base, owner):
    item = CallNotifyFactory(customer=owner.customer)
    response = client.put(f"{base}/{item.pk}", BODY, format="json")
    assert response.json() == {"error": {"code": "method_not_allowed", "status": 405, "message": 'Method "PUT" not allowed.'}}
