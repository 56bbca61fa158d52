"""The published Telecom X rule pages, walked as a client written against them would walk them.

"API : SBC Rule Create" says: Access level "RESELLER_ADMIN with FINANCE feature, or ADMIN". So the
writer here is a RESELLER_ADMIN whose customer has FINANCE, for every rule type, and the calls are
black-box: it logs in over the API and sends only the published properties; the operator's ADMIN
sets up the peers and the DK operator over the API too. Each documented error of the page is
provoked, with its exact status, code and message (docs/api.md §6).
"""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import AccessLevel
from tests.accounts.factories import PASSWORD, CustomerFactory, EmployeeFactory
from tests.conftest import ValidatingAPIClient
from tests.errorbody import error

pytestmark = pytest.mark.django_db

URL = "/api/sbc/rule"
DENIED = error(403, "access_denied", "Insufficient access level")


def logged_in(level: str, features: list[str], **customer: Any) -> tuple[APIClient, str]:
    """A client logged in through POST /api/auth/login, and its customer's id."""
    employee = EmployeeFactory(access_level=level, customer=CustomerFactory(features=features, **customer))
    client = ValidatingAPIClient()
    login = client.post("/api/auth/login", {"username": employee.email, "password": PASSWORD}, format="json")
    assert login.status_code == 200, login.json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login.json()['token']}")
    return client, login.json()["customer"]


@pytest.fixture
def writer() -> tuple[APIClient, dict[str, str]]:
    """The RESELLER_ADMIN with FINANCE, and a condition of each type it may use."""
    admin, _ = logged_in(AccessLevel.ADMIN, [])
    for peer in ({"_id": "Telenor", "name": "Telenor"}, {"_id": "TDC", "name": "TDC A/S"}):
        assert admin.post("/api/sbc/peer", peer, format="json").status_code == 201
    assert admin.post("/api/dk/operator", {"_id": "01011", "name": "TDC NET"}, format="json").status_code == 201
    client, customer = logged_in(AccessLevel.RESELLER_ADMIN, ["FINANCE"], is_reseller=True)
    return client, {"PREFIX": "+462", "ANUMBER": "+4570305050", "CUSTOMER": customer, "DKCPS": "01011"}


@pytest.mark.parametrize("rule_type", ["PREFIX", "ANUMBER", "CUSTOMER", "DKCPS"])
def test_the_writer_creates_reads_lists_updates_and_deletes_each_rule_type(writer, rule_type):
    client, conditions = writer
    condition = conditions[rule_type]
    created = client.post(URL, {"type": rule_type, "condition": condition, "peer": "Telenor", "note": "Least cost routing"},
                          format="json")
    assert created.status_code == 201, created.json()
    rule = created.json()
    assert rule == {"_id": rule["_id"], "type": rule_type, "condition": condition, "peer": "Telenor", "note": "Least cost routing"}
    item = f"{URL}/{rule['_id']}"

    assert (client.get(item).status_code, client.get(item).json()) == (200, rule)
    assert client.get(URL).json() == [rule]
    assert client.get(URL, {"type": rule_type}).json() == [rule]

    updated = client.post(item, {"peer": "tdc"}, format="json")  # Telecom X style update: POST to the item
    assert (updated.status_code, updated.json()) == (200, {**rule, "peer": "TDC"})
    patched = client.patch(item, {"note": "changed"}, format="json")
    assert (patched.status_code, patched.json()) == (200, {**rule, "peer": "TDC", "note": "changed"})
    assert client.get(item).json() == {**rule, "peer": "TDC", "note": "changed"}

    deleted = client.delete(item)
    assert (deleted.status_code, deleted.json()) == (200, {"success": True})
    gone = client.get(item)
    assert (gone.status_code, gone.json()) == (404, error(404, "id", "Rule not found"))
    assert client.get(URL).json() == []


def test_the_published_query_example_answers_the_published_response_example(writer):
    client, _ = writer
    response = client.post(URL, {"type": "PREFIX", "condition": "+462", "peer": "Telenor", "note": "Least cost routing"},
                           format="json")
    body = response.json()
    assert (response.status_code, body) == (201, {"_id": body["_id"], "type": "PREFIX", "condition": "+462",
                                                  "peer": "Telenor", "note": "Least cost routing"})
    assert len(body["_id"]) == 24 and int(body["_id"], 16) >= 0


# The page's error table, row by row: (body, status, code, message).
PUBLISHED_ERRORS = {
    "type": ({"type": "SUFFIX", "condition": "+462", "peer": "Telenor"}, 422, "type", "Type is invalid"),
    "condition": ({"type": "ANUMBER", "condition": "4570305050", "peer": "Telenor"}, 422, "condition", "Condition is invalid"),
    "peer": ({"type": "PREFIX", "condition": "+462", "peer": "not a peer!"}, 422, "peer", "Peer is invalid"),
    "prefix": ({"type": "PREFIX", "condition": "462", "peer": "Telenor"}, 422, "condition", "Prefix is invalid"),
    "customer": ({"type": "CUSTOMER", "condition": "0123456789abcdef01234567", "peer": "Telenor"}, 422, "condition",
                 "Customer not found"),
    "cps": ({"type": "DKCPS", "condition": "09999", "peer": "Telenor"}, 422, "condition", "CPS not found"),
    "peer not found": ({"type": "DKCPS", "condition": "01011", "peer": "Nope"}, 404, "peer", "Peer not found"),
}


@pytest.mark.parametrize("row", PUBLISHED_ERRORS)
def test_each_published_create_error(writer, row):
    client, _ = writer
    body, status, code, message = PUBLISHED_ERRORS[row]
    response = client.post(URL, body, format="json")
    assert (response.status_code, response.json()) == (status, error(status, code, message, path=code))
    assert client.get(URL).json() == []


@pytest.mark.parametrize("rule_type", ["PREFIX", "ANUMBER", "CUSTOMER", "DKCPS"])
def test_rule_already_exists(writer, rule_type):
    client, conditions = writer
    body = {"type": rule_type, "condition": conditions[rule_type], "peer": "Telenor"}
    assert client.post(URL, body, format="json").status_code == 201
    again = client.post(URL, {**body, "peer": "TDC"}, format="json")
    assert (again.status_code, again.json()) == (409, error(409, "rule", "Rule already exists"))
    assert [rule["peer"] for rule in client.get(URL).json()] == ["Telenor"]


@pytest.mark.parametrize("features", [[], ["TELE"]])
def test_insufficient_access_level_without_finance(writer, features):
    client, conditions = writer
    rule = client.post(URL, {"type": "PREFIX", "condition": "+462", "peer": "Telenor"}, format="json").json()
    other, _ = logged_in(AccessLevel.RESELLER_ADMIN, features, is_reseller=True)
    calls = [other.post(URL, {"type": "PREFIX", "condition": "+463", "peer": "Telenor"}, format="json"),
             other.post(f"{URL}/{rule['_id']}", {"note": "x"}, format="json"),
             other.patch(f"{URL}/{rule['_id']}", {"note": "x"}, format="json"),
             other.delete(f"{URL}/{rule['_id']}")]
    assert [(r.status_code, r.json()) for r in calls] == [(403, DENIED)] * 4
    assert client.get(URL).json() == [rule]


@pytest.mark.parametrize("rule_type", ["PREFIX", "ANUMBER", "CUSTOMER", "DKCPS"])
def test_update_errors(writer, rule_type):
    client, conditions = writer
    rule = client.post(URL, {"type": rule_type, "condition": conditions[rule_type], "peer": "Telenor"}, format="json").json()
    item = f"{URL}/{rule['_id']}"
    bad_condition = {"PREFIX": ("462", "Prefix is invalid"), "ANUMBER": ("45", "Condition is invalid"),
                     "CUSTOMER": ("0123456789abcdef01234567", "Customer not found"), "DKCPS": ("09999", "CPS not found")}
    condition, message = bad_condition[rule_type]
    answers = [client.patch(item, {"condition": condition}, format="json"),
               client.post(item, {"type": "PREFIX" if rule_type != "PREFIX" else "ANUMBER"}, format="json"),
               client.patch(item, {"peer": "Nope"}, format="json")]
    assert [(r.status_code, r.json()) for r in answers] == [
        (422, error(422, "condition", message, path="condition")),
        (422, error(422, "type", "Type is invalid", path="type")),
        (404, error(404, "peer", "Peer not found", path="peer")),
    ]
    assert client.get(item).json() == rule


@pytest.mark.parametrize("method", ["get", "post", "patch", "delete"])
def test_an_unknown_rule_is_not_found(writer, method):
    client, _ = writer
    response = getattr(client, method)(f"{URL}/{'0' * 24}", {"note": "x"}, format="json")
    assert (response.status_code, response.json()) == (404, error(404, "id", "Rule not found"))
