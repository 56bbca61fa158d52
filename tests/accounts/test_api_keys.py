"""Service accounts' API keys (docs/api.md §3): ADMIN makes, lists and revokes them; a key serves a
switch's two calls and nothing else; only its hash is stored; revoked, it stops at once."""

from __future__ import annotations

import base64
import hashlib
import json
import logging

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import AccessLevel, ApiKey, Customer, Employee
from tests.accounts.factories import CustomerFactory, EmployeeFactory
from tests.errorbody import error
from tests.sbcrules.factories import PeerFactory
from core.logs import JsonFormatter

pytestmark = pytest.mark.django_db

ROUTE = "/api/sbc/route?bnumber=%2B4570305050"


@pytest.fixture
def admin(client_for):
    return client_for(EmployeeFactory(admin=True, customer=CustomerFactory(reseller=True, name="Operator")))


def keyed(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def basic(user: str, password: str = "") -> APIClient:
    """HTTP Basic credentials, as Kamailio's named connections send them (the key as user name)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    return client


def make_key(admin: APIClient, name: str = "kamailio-1", **extra: str) -> dict:
    response = admin.post("/api/apikey", {"name": name, **extra}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_admin_makes_a_key_for_a_new_service_account_and_only_the_hash_is_stored(admin):
    body = make_key(admin)
    raw = body.pop("key")
    assert raw.startswith("txk_") and len(raw) >= 40
    key = ApiKey.objects.get()
    assert body == {
        "_id": key.id, "name": "kamailio-1", "account": key.employee_id, "prefix": raw[:10],
        "createdAt": body["createdAt"], "createdBy": key.created_by_id, "revokedAt": None,
    }
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    with connection.cursor() as cursor:  # the raw key is in no column of any row
        cursor.execute("SELECT * FROM accounts_apikey")
        assert not any(raw in str(value) for row in cursor.fetchall() for value in row)
    account = key.employee
    assert (account.name, account.access_level, account.has_usable_password()) == ("kamailio-1", AccessLevel.VIEWER, False)
    assert account.customer_id == key.created_by.customer_id
    assert account.has_perm("sbcrules.lookup_route") and account.has_perm("callnotify.add_callevent")
    assert not account.has_perm("sbcrules.add_rule")
    listed = admin.get("/api/apikey").json()
    assert listed == [body] and "key" not in listed[0]
    assert admin.get(f"/api/apikey/{key.id.upper()}").json() == body


def test_a_key_serves_route_look_ups_and_call_events_only(admin):
    PeerFactory(id="TDC", default=True, hosts=["127.0.0.2"])
    switch = keyed(make_key(admin)["key"])
    response = switch.get(ROUTE)
    assert response.status_code == 200
    assert response.json()["targets"] == [{"peer": "TDC", "host": "127.0.0.2", "port": 5060, "transport": "udp"}]
    # authenticated and allowed: the body is what is wrong
    assert switch.post("/api/callevent", {}, format="json").status_code == 422
    customer = CustomerFactory()
    for method, url in (
        ("get", "/api/sbc/peer"), ("get", "/api/sbc/rule"), ("get", "/api/apikey"), ("post", "/api/apikey"),
        ("get", f"/api/customer/{customer.pk}/callnotify"), ("get", "/api/auth/logout"), ("get", "/api/dk/operator"),
    ):
        response = getattr(switch, method)(url)
        assert response.json() == error(403, "access_denied", "Insufficient access level"), url


def test_a_key_as_basic_credentials_is_a_key_and_refused_wherever_a_key_is(admin):
    PeerFactory(id="TDC", default=True, hosts=["127.0.0.2"])
    body = make_key(admin)
    switch = basic(body["key"])
    assert switch.get(ROUTE).json()["peer"] == "TDC"
    assert switch.post("/api/callevent", {}, format="json").status_code == 422  # in: the body is what is wrong
    customer = CustomerFactory()
    for method, url in (("get", "/api/sbc/peer"), ("get", "/api/apikey"), ("get", f"/api/customer/{customer.pk}/callnotify"),
                        ("get", f"/api/customer/{customer.pk}/trunk"), ("get", "/api/auth/logout")):
        assert getattr(switch, method)(url).json() == error(403, "access_denied", "Insufficient access level"), url
    admin.delete(f"/api/apikey/{body['_id']}")
    assert switch.get(ROUTE).json() == error(401, "credentials_invalid", "Authorization required, please login")
    assert basic("txk_" + "x" * 43).get(ROUTE).json() == error(401, "invalid_token", "Undecipherable")


@pytest.mark.parametrize(
    ("header", "code", "message"),
    [
        # a key with a password, a login token, an e-mail and password: only a key, with nothing after the colon
        ("Basic " + base64.b64encode(b"txk_abc:secret").decode(), "format_error", "Authorization header format is Authorization: Bearer <token>"),
        ("Basic " + base64.b64encode(b"m2W1pZ3x0Yq8TQ8r3y5Jm9c1vA7kLQeH:").decode(), "format_error",
         "Authorization header format is Authorization: Bearer <token>"),
        ("Basic " + base64.b64encode(b"admin@operator.example:correct horse").decode(), "format_error",
         "Authorization header format is Authorization: Bearer <token>"),
        ("Basic " + base64.b64encode(b"txk_abc").decode(), "format_error", "Authorization header format is Authorization: Bearer <token>"),
        ("Basic not-base64!", "invalid_token", "Undecipherable"),
        ("Basic " + base64.b64encode("txk_\u00e9:".encode()).decode(), "invalid_token", "Undecipherable"),
        ("Digest txk_abc", "format_error", "Authorization header format is Authorization: Bearer <token>"),
    ],
)
def test_basic_credentials_that_are_not_a_key_and_an_empty_password_are_refused(admin, header, code, message):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get(ROUTE).json() == error(401, code, message)


def test_a_login_token_is_never_taken_as_basic_credentials(admin, client_for):
    from tests.accounts.factories import issue_token

    token = issue_token(EmployeeFactory(admin=True))
    assert basic(token).get("/api/sbc/peer").json() == error(401, "format_error",
                                                             "Authorization header format is Authorization: Bearer <token>")


def test_a_key_of_an_admin_level_account_still_serves_only_the_switch_calls(admin):
    account = make_key(admin)["account"]
    Employee.objects.filter(pk=account).update(access_level=AccessLevel.ADMIN)
    switch = keyed(make_key(admin, "second", account=account)["key"])
    assert switch.get(ROUTE).status_code == 200
    assert switch.get("/api/sbc/peer").status_code == 403


def test_only_admin_manages_keys(client_for, admin):
    key_id = make_key(admin)["_id"]
    for level in (AccessLevel.VIEWER, AccessLevel.OWNER, AccessLevel.RESELLER_ADMIN):
        client = client_for(EmployeeFactory(access_level=level, customer=CustomerFactory(features=["TELE", "FINANCE"])))
        for method, url in (("get", "/api/apikey"), ("post", "/api/apikey"), ("get", f"/api/apikey/{key_id}"), ("delete", f"/api/apikey/{key_id}")):
            assert getattr(client, method)(url, format="json").json() == error(403, "access_denied", "Insufficient access level")
    assert ApiKey.objects.get().revoked_at is None
    assert APIClient().get("/api/apikey").status_code == 401


def test_a_revoked_key_stops_on_the_next_request(admin):
    body = make_key(admin)
    switch = keyed(body["key"])
    assert switch.get(ROUTE).status_code in (200,)
    response = admin.delete(f"/api/apikey/{body['_id']}")
    assert response.status_code == 200 and response.json()["revokedAt"] is not None
    assert switch.get(ROUTE).json() == error(401, "credentials_invalid", "Authorization required, please login")
    assert admin.delete(f"/api/apikey/{body['_id']}").json()["revokedAt"] == response.json()["revokedAt"]  # idempotent
    assert keyed("txk_" + "x" * 43).get(ROUTE).json() == error(401, "invalid_token", "Undecipherable")


def test_rotating_gives_the_same_account_a_second_key_and_both_work_until_one_is_revoked(admin):
    first = make_key(admin)
    second = make_key(admin, "kamailio-1 (2026)", account=first["account"])
    assert second["account"] == first["account"] and second["key"] != first["key"]
    admin.delete(f"/api/apikey/{first['_id']}")
    assert keyed(first["key"]).get(ROUTE).status_code == 401
    assert keyed(second["key"]).get(ROUTE).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({}, 422, "name", "Name is invalid"),
        ({"name": ""}, 422, "name", "Name is invalid"),
        ({"name": "  "}, 422, "name", "Name is invalid"),
        ({"name": 5}, 422, "name", "Name is invalid"),
        ({"name": "x" * 101}, 422, "name", "Name is invalid"),
        ({"name": "k", "account": "0" * 24}, 404, "account", "Service account not found"),
        ({"name": "k", "account": 5}, 404, "account", "Service account not found"),
        ({"name": "k", "account": "not an id"}, 404, "account", "Service account not found"),
    ],
)
def test_bad_input_is_refused_and_stores_nothing(admin, body, status, code, message):
    response = admin.post("/api/apikey", body, format="json")
    assert response.json() == error(status, code, message, code)
    assert not ApiKey.objects.exists()


def test_a_person_cannot_be_given_a_key(admin):
    person = EmployeeFactory(access_level=AccessLevel.ADMIN)
    response = admin.post("/api/apikey", {"name": "k", "account": person.pk}, format="json")
    assert response.json() == error(404, "account", "Service account not found", "account")


def test_unknown_key_id_is_404(admin):
    assert admin.get("/api/apikey/" + "0" * 24).json() == error(404, "id", "API key not found")
    assert admin.delete("/api/apikey/nope").json() == error(404, "id", "API key not found")


def test_disabling_the_account_revokes_its_keys_for_good(admin):
    body = make_key(admin)
    account = Employee.objects.get(pk=body["account"])
    account.state = Employee.State.DISABLED
    account.save()
    account.state = Employee.State.ENABLED
    account.save()
    assert keyed(body["key"]).get(ROUTE).status_code == 401
    assert ApiKey.objects.get().revoked_at is not None


def test_nothing_reaches_through_a_deleted_customer_or_reseller_above(admin):
    top = CustomerFactory(reseller=True)
    middle = CustomerFactory(reseller=True, parent_reseller=top)
    body = make_key(admin)
    Employee.objects.filter(pk=body["account"]).update(customer=middle)
    switch = keyed(body["key"])
    assert switch.get(ROUTE).status_code == 200
    Customer.objects.filter(pk=top.pk).update(state=Customer.State.DELETED)
    assert switch.get(ROUTE).json() == error(401, "credentials_invalid", "Authorization required, please login")
    Customer.objects.filter(pk=top.pk).update(state=Customer.State.ACTIVE)
    Customer.objects.filter(pk=middle.pk).update(state=Customer.State.DELETED)
    assert switch.get(ROUTE).status_code == 401


def test_the_request_log_names_the_account_and_key_never_the_key_itself(admin, caplog):
    body = make_key(admin)
    with caplog.at_level(logging.INFO, logger="telecomx.requests"):
        keyed(body["key"]).get(ROUTE)
    line = json.loads(JsonFormatter().format(caplog.records[-1]))  # as the log writes it
    assert (line["employee"], line["apiKey"], line["apiKeyName"], line["status"]) == (body["account"], body["_id"], "kamailio-1", 200)
    assert body["key"] not in caplog.text


def test_a_look_up_with_a_key_costs_one_query(admin, django_assert_max_num_queries, settings):
    PeerFactory(id="TDC", default=True)
    switch = keyed(make_key(admin)["key"])
    settings.ROUTING_CHECK_INTERVAL = 3600
    switch.get(ROUTE)  # builds the index
    with django_assert_max_num_queries(1):  # the key with its account, customer and permissions
        assert switch.get(ROUTE).status_code == 200


def test_a_remembered_key_is_confirmed_by_its_stamp_and_every_change_behind_it_counts_on_the_next_request(
    admin, django_assert_max_num_queries, settings
):
    """A key read before is asked for a hash of its row only (PostgreSQL; on SQLite the whole row
    is read and compared): a permission taken away, given by a group, taken from the group, the
    account moved under a DELETED reseller: each is seen by the very next request, and a request
    with nothing changed costs the one stamp statement."""
    from django.contrib.auth.models import Group, Permission

    PeerFactory(id="TDC", default=True)
    settings.ROUTING_CHECK_INTERVAL = 3600
    body = make_key(admin)
    switch, account = keyed(body["key"]), Employee.objects.get(pk=body["account"])
    lookup = Permission.objects.get(codename="lookup_route")
    assert switch.get(ROUTE).status_code == 200  # read whole, remembered
    with django_assert_max_num_queries(1) as captured:
        assert switch.get(ROUTE).status_code == 200
    stamp_only = captured.captured_queries[0]["sql"].lstrip().startswith("SELECT encode(sha256(")
    assert stamp_only == (connection.vendor == "postgresql")
    account.user_permissions.remove(lookup)
    assert switch.get(ROUTE).json() == error(403, "access_denied", "Insufficient access level")
    switches = Group.objects.create(name="switches")
    account.groups.add(switches)
    switches.permissions.add(lookup)
    assert switch.get(ROUTE).status_code == 200
    switches.permissions.remove(lookup)
    assert switch.get(ROUTE).json() == error(403, "access_denied", "Insufficient access level")
    account.user_permissions.add(lookup)
    assert switch.get(ROUTE).status_code == 200
    deleted = CustomerFactory(reseller=True, state=Customer.State.DELETED)
    Employee.objects.filter(pk=account.pk).update(customer=CustomerFactory(parent_reseller=deleted))
    assert switch.get(ROUTE).json() == error(401, "credentials_invalid", "Authorization required, please login")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="only PostgreSQL confirms a remembered key by its stamp")
def test_a_deleted_key_that_another_request_forgets_at_the_same_moment_is_still_a_401(admin, monkeypatch):
    from accounts import authentication

    PeerFactory(id="TDC", default=True)
    body = make_key(admin)
    switch = keyed(body["key"])
    assert switch.get(ROUTE).status_code == 200  # remembered

    class AnotherRequestForgets(dict):  # between this request finding the row and forgetting it
        def get(self, key, default=None):
            value = super().get(key, default)
            self.pop(key, None)
            return value

    monkeypatch.setattr(authentication, "_rows", AnotherRequestForgets(authentication._rows))
    ApiKey.objects.filter(pk=body["_id"]).delete()
    assert switch.get(ROUTE).json() == error(401, "invalid_token", "Undecipherable")


def test_admin_pages_make_a_key_shown_once_and_revoke_it(admin):
    from django.test import Client

    staff = Client()
    operator = EmployeeFactory(admin=True)
    staff.force_login(operator)
    response = staff.post("/admin/accounts/apikey/add/", {"name": "kamailio-2", "employee": ""}, follow=True)
    assert response.status_code == 200
    key = ApiKey.objects.get()
    shown = [str(m) for m in response.context["messages"]]
    raw = next(m.split(": ")[-1] for m in shown if "not shown again" in m)
    assert hashlib.sha256(raw.encode()).hexdigest() == key.key_hash
    assert key.created_by == operator and key.employee.name == "kamailio-2"
    assert keyed(raw).get(ROUTE).status_code == 200
    assert raw not in staff.get(f"/admin/accounts/apikey/{key.pk}/change/").content.decode()
    assert staff.get("/admin/accounts/apikey/").status_code == 200
    staff.post("/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert keyed(raw).get(ROUTE).status_code == 401


def test_deleting_a_customer_above_revokes_the_keys_for_good(admin):
    top = CustomerFactory(reseller=True)
    middle = CustomerFactory(reseller=True, parent_reseller=top)
    body, other = make_key(admin), make_key(admin, "elsewhere")
    Employee.objects.filter(pk=body["account"]).update(customer=CustomerFactory(parent_reseller=middle))
    top.state = Customer.State.DELETED
    top.save()
    top.state = Customer.State.ACTIVE
    top.save()
    assert keyed(body["key"]).get(ROUTE).status_code == 401
    assert ApiKey.objects.get(pk=body["_id"]).revoked_at is not None
    assert ApiKey.objects.get(pk=other["_id"]).revoked_at is None


def test_a_disabled_service_account_gets_no_new_key(admin):
    body = make_key(admin)
    account = Employee.objects.get(pk=body["account"])
    account.state = Employee.State.DISABLED
    account.save()
    response = admin.post("/api/apikey", {"name": "again", "account": account.pk}, format="json")
    assert response.json() == error(404, "account", "Service account not found", "account")
    assert ApiKey.objects.count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_the_key_probe_is_prepared_once_per_connection_and_a_revocation_still_stops_the_next_request(admin, settings):
    PeerFactory(id="TDC", default=True)
    body = make_key(admin)
    switch = keyed(body["key"])
    for _ in range(3):
        assert switch.get(ROUTE).status_code == 200

    def runs() -> int:  # executions of the prepared credential probe in this connection
        with connection.cursor() as cursor:
            cursor.execute("SELECT COALESCE(SUM(generic_plans + custom_plans), 0) FROM pg_prepared_statements"
                           " WHERE statement LIKE %s", ["%accounts_apikey k%"])
            return cursor.fetchone()[0]

    assert runs() >= 3
    assert admin.delete(f"/api/apikey/{body['_id']}").status_code == 200  # revoked: a prepared plan reads the row as it is now
    assert switch.get(ROUTE).json() == error(401, "credentials_invalid", "Authorization required, please login")
