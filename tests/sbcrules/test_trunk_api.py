"""Trunks over the API (docs/sbcrules.md, "Trunks"): `/api/customer/<ID>/trunk`."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from accounts.models import AccessLevel
from sbcrules.models import Trunk
from tests.accounts.factories import CustomerFactory, EmployeeFactory
from tests.errorbody import error

pytestmark = pytest.mark.django_db


def url(customer, trunk: str | None = None) -> str:
    pk = customer if isinstance(customer, str) else customer.pk
    return f"/api/customer/{pk}/trunk" + (f"/{trunk}" if trunk else "")


@pytest.fixture
def customer():
    return CustomerFactory()


def test_create_get_list_update_delete(admin, customer):
    body = {"name": "Hansen PBX", "sources": ["203.0.113.7", "198.51.100.0/28", "2001:DB8:0:1::/64"], "maxCalls": 30,
            "callsPerSecond": 5}
    response = admin.post(url(customer), body, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created == {
        "_id": created["_id"], "customer": customer.pk, "name": "Hansen PBX",
        "sources": ["203.0.113.7", "198.51.100.0/28", "2001:db8:0:1::/64"],
        "maxCalls": 30, "callsPerSecond": 5, "trustCustomerHeader": False, "state": "ACTIVE",
    }
    trunk = Trunk.objects.get()
    assert (trunk.customer_id, trunk.sources, trunk.max_calls, trunk.calls_per_second) == (
        customer.pk, ["203.0.113.7", "198.51.100.0/28", "2001:db8:0:1::/64"], 30, 5)
    assert admin.get(url(customer, created["_id"].upper())).json() == created
    assert admin.get(url(customer)).json() == [created]
    # update by POST and by PATCH: partial; null means no limit
    response = admin.post(url(customer, created["_id"]), {"maxCalls": None, "state": "DISABLED"}, format="json")
    assert response.status_code == 200
    assert (response.json()["maxCalls"], response.json()["callsPerSecond"], response.json()["state"]) == (None, 5, "DISABLED")
    response = admin.patch(url(customer, created["_id"]), {"sources": ["203.0.113.8"], "trustCustomerHeader": True}, format="json")
    assert (response.json()["sources"], response.json()["trustCustomerHeader"], response.json()["name"]) == (
        ["203.0.113.8"], True, "Hansen PBX")
    assert Trunk.objects.get().sources == ["203.0.113.8"]
    assert admin.delete(url(customer, created["_id"])).json() == {"success": True}
    assert not Trunk.objects.exists()
    assert admin.get(url(customer, created["_id"])).json() == error(404, "id", "Trunk not found")


def test_limits_are_optional(admin, customer):
    response = admin.post(url(customer), {"name": "x", "sources": ["192.0.2.1"]}, format="json")
    assert response.status_code == 201
    assert (response.json()["maxCalls"], response.json()["callsPerSecond"]) == (None, None)


@pytest.mark.parametrize(
    ("body", "code", "message", "path"),
    [
        ({"sources": ["192.0.2.1"]}, "name", "Name is invalid", "name"),
        ({"name": "", "sources": ["192.0.2.1"]}, "name", "Name is invalid", "name"),
        ({"name": "x" * 101, "sources": ["192.0.2.1"]}, "name", "Name is invalid", "name"),
        ({"name": 5, "sources": ["192.0.2.1"]}, "name", "Name is invalid", "name"),
        ({"name": "x"}, "sources", "Source is invalid", "sources"),
        ({"name": "x", "sources": []}, "sources", "Source is invalid", "sources"),
        ({"name": "x", "sources": "192.0.2.1"}, "sources", "Source is invalid", "sources"),
        ({"name": "x", "sources": ["192.0.2.256"]}, "sources", "Source is invalid", "sources"),
        ({"name": "x", "sources": ["192.0.2.1/33"]}, "sources", "Source is invalid", "sources"),
        ({"name": "x", "sources": ["192.0.2.1/24"]}, "sources", "Source is invalid", "sources"),  # host bits set
        ({"name": "x", "sources": ["0.0.0.0/0"]}, "sources", "Source is invalid", "sources"),  # everyone is no trunk
        ({"name": "x", "sources": ["::/0"]}, "sources", "Source is invalid", "sources"),
        ({"name": "x", "sources": ["0.0.0.0"]}, "sources", "Source is invalid", "sources"),
        ({"name": "x", "sources": ["::"]}, "sources", "Source is invalid", "sources"),
        ({"name": "x", "sources": ["224.0.0.1"]}, "sources", "Source is invalid", "sources"),
        ({"name": "x", "sources": ["ff02::1"]}, "sources", "Source is invalid", "sources"),
        ({"name": "x", "sources": ["255.255.255.255"]}, "sources", "Source is invalid", "sources"),
        ({"name": "x", "sources": ["::ffff:192.0.2.1"]}, "sources", "Source is invalid", "sources"),  # say 192.0.2.1
        ({"name": "x", "sources": ["host.example.com"]}, "sources", "Source is invalid", "sources"),
        ({"name": "x", "sources": [5]}, "sources", "Source is invalid", "sources"),
        ({"name": "x", "sources": ["192.0.2.1"] * 2}, "sources", "Source is invalid", "sources"),
        ({"name": "x", "sources": [f"192.0.2.{n}" for n in range(101)]}, "sources", "Source is invalid", "sources"),
        ({"name": "x", "sources": ["192.0.2.1"], "maxCalls": 0}, "maxCalls", "Max calls is invalid", "maxCalls"),
        ({"name": "x", "sources": ["192.0.2.1"], "maxCalls": "5"}, "maxCalls", "Max calls is invalid", "maxCalls"),
        ({"name": "x", "sources": ["192.0.2.1"], "maxCalls": 2.5}, "maxCalls", "Max calls is invalid", "maxCalls"),
        ({"name": "x", "sources": ["192.0.2.1"], "maxCalls": True}, "maxCalls", "Max calls is invalid", "maxCalls"),
        ({"name": "x", "sources": ["192.0.2.1"], "maxCalls": 10**12}, "maxCalls", "Max calls is invalid", "maxCalls"),
        ({"name": "x", "sources": ["192.0.2.1"], "callsPerSecond": -1}, "callsPerSecond", "Calls per second is invalid", "callsPerSecond"),
        ({"name": "x", "sources": ["192.0.2.1"], "trustCustomerHeader": "yes"}, "trustCustomerHeader",
         "Trust customer header is invalid", "trustCustomerHeader"),
        ({"name": "x", "sources": ["192.0.2.1"], "state": "OFF"}, "state", "State is invalid", "state"),
    ],
)
def test_a_bad_property_is_a_422_with_its_message_and_stores_nothing(admin, customer, body, code, message, path):
    response = admin.post(url(customer), body, format="json")
    assert response.status_code == 422
    assert response.json() == error(422, code, message, path)
    assert not Trunk.objects.exists()


def test_several_bad_properties_are_reported_together(admin, customer):
    response = admin.post(url(customer), {"sources": ["x"], "maxCalls": 0}, format="json")
    assert response.status_code == 422
    assert response.json() == {"error": {"code": "multiple", "status": 422, "message": "Multiple errors", "inner": [
        error(422, "name", "Name is invalid", "name")["error"],
        error(422, "sources", "Source is invalid", "sources")["error"],
        error(422, "maxCalls", "Max calls is invalid", "maxCalls")["error"],
    ]}}


@pytest.mark.parametrize(
    ("existing", "new"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("203.0.113.0/24", "203.0.113.7"),  # inside another trunk's block
        ("203.0.113.7", "203.0.113.0/28"),  # a block holding another trunk's address
        ("2001:db8::/32", "2001:db8:1::1"),
        ("2001:db8::1", "2001:0DB8::1"),  # another spelling of the same address
    ],
)
def test_a_source_another_trunk_holds_is_a_409(admin, customer, existing, new):
    other = CustomerFactory()
    assert admin.post(url(other), {"name": "first", "sources": [existing]}, format="json").status_code == 201
    response = admin.post(url(customer), {"name": "second", "sources": ["192.0.2.1", new]}, format="json")
    assert response.status_code == 409
    assert response.json() == error(409, "sources", "Source is used by another trunk", "sources")
    assert Trunk.objects.count() == 1


def test_an_update_may_keep_its_own_sources_but_not_take_anothers(admin, customer):
    first = admin.post(url(customer), {"name": "a", "sources": ["192.0.2.0/28"]}, format="json").json()
    second = admin.post(url(customer), {"name": "b", "sources": ["192.0.2.100"]}, format="json").json()
    assert admin.patch(url(customer, first["_id"]), {"sources": ["192.0.2.0/28", "192.0.2.16/28"]}, format="json").status_code == 200
    response = admin.patch(url(customer, second["_id"]), {"sources": ["192.0.2.1"]}, format="json")
    assert response.json() == error(409, "sources", "Source is used by another trunk", "sources")
    assert Trunk.objects.get(pk=second["_id"]).sources == ["192.0.2.100"]
    # a deleted trunk's sources are free again
    admin.delete(url(customer, first["_id"]))
    assert admin.patch(url(customer, second["_id"]), {"sources": ["192.0.2.1"]}, format="json").status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the test database of SQLite is one shared in-memory cache; "
                    "the race needs PostgreSQL (a SQLite file serialises writers: transaction_mode IMMEDIATE)")
def test_concurrent_creates_of_overlapping_sources_one_wins_the_rest_get_409():
    """Eight threads, each its own database connection, create trunks whose sources all overlap."""
    from rest_framework.test import APIClient

    from tests.accounts.factories import issue_token

    customer = CustomerFactory()
    clients = [APIClient() for _ in range(8)]  # plain clients: the schema is not built in eight threads at once
    for client in clients:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(EmployeeFactory(admin=True))}")
    answers: list = [None] * 8
    start = threading.Barrier(8)

    def create(n: int) -> None:
        try:
            start.wait()
            answers[n] = clients[n].post(url(customer), {"name": f"t{n}", "sources": [f"192.0.2.{n}", "198.51.100.0/30" if n % 2 else "198.51.100.0/29"]},
                                         format="json")
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * 7, [a.json() for a in answers]
    assert all(a.json() == error(409, "sources", "Source is used by another trunk", "sources") for a in answers if a.status_code == 409)
    assert Trunk.objects.count() == 1


def test_server_owned_properties_cannot_be_set(admin, customer):
    other = CustomerFactory()
    response = admin.post(url(customer), {"_id": "a" * 24, "customer": other.pk, "name": "x", "sources": ["192.0.2.1"]}, format="json")
    assert response.status_code == 201
    assert response.json()["_id"] != "a" * 24 and response.json()["customer"] == customer.pk


@pytest.mark.parametrize(
    ("level", "features", "whose", "status"),
    [
        (AccessLevel.ADMIN, [], "unrelated", 201),
        (AccessLevel.RESELLER_ADMIN, ["TELE"], "child", 201),
        (AccessLevel.RESELLER_ADMIN, ["TELE"], "own", 403),  # its own customer does not belong to itself
        (AccessLevel.RESELLER_ADMIN, ["TELE"], "unrelated", 404),
        (AccessLevel.RESELLER_ADMIN, ["FINANCE"], "child", 403),
        (AccessLevel.RESELLER, ["TELE"], "child", 403),
        (AccessLevel.OWNER, ["TELE"], "own", 403),
        (AccessLevel.OWNER, ["TELE"], "unrelated", 404),
    ],
)
def test_who_may_manage_trunks(client_for, level, features, whose, status):
    operator = CustomerFactory(reseller=True, is_operator=True)
    own = CustomerFactory(reseller=level in (AccessLevel.RESELLER, AccessLevel.RESELLER_ADMIN), parent_reseller=operator,
                          features=features)
    employee = EmployeeFactory(customer=operator if level == AccessLevel.ADMIN else own, access_level=level)
    customers = {"own": own, "child": CustomerFactory(parent_reseller=own), "unrelated": CustomerFactory()}
    response = client_for(employee).post(url(customers[whose]), {"name": "x", "sources": ["192.0.2.1"]}, format="json")
    assert response.status_code == status, response.json()
    if status == 404:
        assert response.json() == error(404, "customer", "Customer not found")
    if status == 403:
        assert response.json() == error(403, "access_denied", "Insufficient access level")
    assert Trunk.objects.exists() == (status == 201)


def test_an_unknown_or_deleted_customer_is_404(admin):
    assert admin.get(url("f" * 24)).json() == error(404, "customer", "Customer not found")
    deleted = CustomerFactory(deleted=True)
    assert admin.post(url(deleted), {"name": "x", "sources": ["192.0.2.1"]}, format="json").json() == error(
        404, "customer", "Customer not found")


def test_a_trunk_of_another_customer_is_not_found_under_this_one(admin, customer):
    other = CustomerFactory()
    trunk = admin.post(url(other), {"name": "x", "sources": ["192.0.2.1"]}, format="json").json()
    assert admin.get(url(customer, trunk["_id"])).json() == error(404, "id", "Trunk not found")
    assert admin.delete(url(customer, trunk["_id"])).json() == error(404, "id", "Trunk not found")
    assert Trunk.objects.count() == 1


def test_a_switch_key_cannot_manage_trunks(api_client, customer):
    from accounts.models import ApiKey

    _, raw = ApiKey.objects.issue(name="k", created_by=EmployeeFactory(admin=True))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = api_client.post(url(customer), {"name": "x", "sources": ["192.0.2.1"]}, format="json")
    assert response.json() == error(403, "access_denied", "Insufficient access level")
    assert not Trunk.objects.exists()


@pytest.mark.parametrize(("source", "status"), [("198.51.100.0/24", 201), ("198.51.100.0/23", 422), ("2001:db8:1::/48", 201),
                                                ("2001:db8::/47", 422)])
def test_a_reseller_gives_its_customers_no_block_wider_than_a_24_or_a_48(client_for, source, status):
    """A wider block would take calls from addresses that are nobody's trunk yet as its customer's."""
    operator = CustomerFactory(reseller=True, is_operator=True)
    reseller = CustomerFactory(reseller=True, parent_reseller=operator, features=["TELE"])
    child = CustomerFactory(parent_reseller=reseller)
    client = client_for(EmployeeFactory(customer=reseller, access_level=AccessLevel.RESELLER_ADMIN))
    response = client.post(url(child), {"name": "x", "sources": [source]}, format="json")
    assert response.status_code == status
    if status == 422:
        assert response.json() == error(422, "sources", "Source is invalid", "sources")
    admin = client_for(EmployeeFactory(customer=operator, access_level=AccessLevel.ADMIN))
    assert admin.post(url(child), {"name": "wide", "sources": ["192.0.0.0/16"]}, format="json").status_code == 201
