"""The operator is exactly one customer, marked as such (docs/api.md §3): how it is made, and the
paths a second reseller without a parent used to open as "the root of the tree" — each closed."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from accounts.models import AccessLevel, Customer
from callnotify.models import CallEvent
from tests.accounts.factories import CustomerFactory, EmployeeFactory
from tests.errorbody import error
from tests.sbcrules.factories import PeerFactory, RuleFactory

pytestmark = pytest.mark.django_db

EVENT = {"callId": "c1", "type": "SIP", "direction": "OUTBOUND", "state": "RINGING", "aNumber": "+4512345678",
         "bNumber": "+4570305050", "timestamp": "2026-11-23T12:00:00Z"}


def switch_of(client_for, customer):
    employee = EmployeeFactory(customer=customer)
    employee.user_permissions.add(Permission.objects.get(codename="add_callevent"),
                                  Permission.objects.get(codename="lookup_route"))
    return client_for(employee)


def test_createcustomer_operator_makes_the_operator_once(capsys):
    call_command("createcustomer", "Telecom X", "--operator")
    operator = Customer.objects.get(pk=capsys.readouterr().out.strip())
    assert (operator.is_operator, operator.is_reseller, operator.parent_reseller_id) == (True, True, None)
    with pytest.raises(CommandError, match=f"An operator exists already: {operator.pk}"):
        call_command("createcustomer", "Second", "--operator")
    with pytest.raises(CommandError, match="The operator is a reseller without a parent"):
        call_command("createcustomer", "Third", "--operator", "--parent", operator.pk)
    assert Customer.objects.filter(is_operator=True).count() == 1


def test_the_first_reseller_without_a_parent_becomes_the_operator_when_there_is_none(capsys):
    call_command("createcustomer", "Old script's operator", "--reseller")
    first = Customer.objects.get(pk=capsys.readouterr().out.strip())
    call_command("createcustomer", "Another root", "--reseller")
    second = Customer.objects.get(pk=capsys.readouterr().out.strip())
    child = CustomerFactory(reseller=True, parent_reseller=first)
    assert [c.is_operator for c in (first, second, child)] == [True, False, False]


def test_the_database_holds_at_most_one_operator():
    CustomerFactory(reseller=True, is_operator=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(name="Second", is_reseller=True, is_operator=True)


def test_an_operator_must_be_a_reseller_without_a_parent():
    from django.core.exceptions import ValidationError

    operator = CustomerFactory(reseller=True, is_operator=True)
    for candidate in (Customer(name="x", is_operator=True), Customer(name="y", is_reseller=True, is_operator=True, parent_reseller=operator)):
        with pytest.raises(ValidationError) as exc:
            candidate.full_clean()
        assert exc.value.message_dict == {"is_operator": ["The operator is a reseller without a parent"]}


def test_the_migration_marks_the_operator_in_todays_data():
    migration = importlib.import_module("accounts.migrations.0003_operator")
    plain_root = CustomerFactory(reseller=True)  # older, but nobody of it holds ADMIN
    operator = CustomerFactory(reseller=True)
    EmployeeFactory(customer=operator, access_level=AccessLevel.ADMIN)
    CustomerFactory(reseller=True, parent_reseller=operator)
    Customer.objects.update(is_operator=False)
    migration.mark_operator(apps, None)
    assert list(Customer.objects.filter(is_operator=True)) == [operator]
    assert not Customer.objects.get(pk=plain_root.pk).is_operator
    migration.mark_operator(apps, None)  # again: nothing changes
    assert list(Customer.objects.filter(is_operator=True)) == [operator]


def test_the_migration_takes_the_oldest_root_when_no_one_holds_admin():
    Customer.objects.all().delete()
    first, _second = CustomerFactory(reseller=True), CustomerFactory(reseller=True)
    Customer.objects.update(is_operator=False)
    importlib.import_module("accounts.migrations.0003_operator").mark_operator(apps, None)
    assert list(Customer.objects.filter(is_operator=True)) == [first]


@pytest.fixture
def two_roots():
    operator = CustomerFactory(reseller=True, is_operator=True)
    other_root = CustomerFactory(reseller=True, features=["TELE", "FINANCE"])  # a second reseller without a parent
    own_customer = CustomerFactory(parent_reseller=other_root)
    foreign_reseller = CustomerFactory(reseller=True, parent_reseller=operator)
    foreign = [CustomerFactory(parent_reseller=foreign_reseller), CustomerFactory(parent_reseller=operator), foreign_reseller]
    return {"operator": operator, "other_root": other_root, "own": own_customer, "foreign": foreign}


def test_a_second_root_resellers_switch_posts_events_only_for_its_subtree(client_for, two_roots):
    """Its switch account's events were delivered for three customers of other resellers."""
    switch = switch_of(client_for, two_roots["other_root"])
    answer = switch.post("/api/callevent", [{**EVENT, "customer": c.pk} for c in two_roots["foreign"]], format="json")
    assert answer.status_code == 202
    assert answer.json() == [error(422, "customer", "Customer not found", "customer")] * 3
    assert switch.post("/api/callevent", {**EVENT, "customer": two_roots["foreign"][0].pk}, format="json").json() == error(
        422, "customer", "Customer not found", "customer")
    assert not CallEvent.objects.exists()
    assert switch.post("/api/callevent", {**EVENT, "customer": two_roots["own"].pk}, format="json").status_code == 202
    # the operator's own switch still reports for everyone
    operator_switch = switch_of(client_for, two_roots["operator"])
    assert operator_switch.post("/api/callevent", {**EVENT, "customer": two_roots["foreign"][0].pk}, format="json").status_code == 202


def test_a_second_root_reseller_admin_sees_no_foreign_customer_rule_through_the_look_up(client_for, two_roots):
    """Its RESELLER_ADMIN saw another reseller's CUSTOMER rule through the route look-up."""
    foreign = two_roots["foreign"][0]
    PeerFactory(id="TDC", hosts=["192.0.2.10"], default=True)
    PeerFactory(id="SECRET", hosts=["192.0.2.66"])
    RuleFactory(type="CUSTOMER", condition=foreign.pk, peer_id="SECRET")
    reseller_admin = client_for(EmployeeFactory(customer=two_roots["other_root"], access_level=AccessLevel.RESELLER_ADMIN))
    answer = reseller_admin.get("/api/sbc/route", {"bnumber": "+4570305050", "customer": foreign.pk}).json()
    assert (answer["peer"], answer["reason"]) == ("TDC", "default")
    assert reseller_admin.get("/api/sbc/route", {"bnumber": "+4570305050", "customer": foreign.pk.upper()}).json()["peer"] == "TDC"
    # its switch account likewise
    switch = switch_of(client_for, two_roots["other_root"])
    assert switch.get("/api/sbc/route", {"bnumber": "+4570305050", "customer": foreign.pk}).json()["peer"] == "TDC"
    # the operator's switch routes by the rule
    assert switch_of(client_for, two_roots["operator"]).get(
        "/api/sbc/route", {"bnumber": "+4570305050", "customer": foreign.pk}).json()["peer"] == "SECRET"


def test_a_second_root_reseller_admin_sees_and_writes_no_foreign_customer_rule(client_for, two_roots):
    foreign = two_roots["foreign"][0]
    PeerFactory(id="TDC", hosts=["192.0.2.10"])
    rule = RuleFactory(type="CUSTOMER", condition=foreign.pk, peer_id="TDC")
    reseller_admin = client_for(EmployeeFactory(customer=two_roots["other_root"], access_level=AccessLevel.RESELLER_ADMIN))
    assert [r["_id"] for r in reseller_admin.get("/api/sbc/rule").json()] == []
    assert reseller_admin.get(f"/api/sbc/rule/{rule.pk}").json() == error(404, "id", "Rule not found")
    created = reseller_admin.post("/api/sbc/rule", {"type": "CUSTOMER", "condition": two_roots["foreign"][1].pk, "peer": "TDC"},
                                  format="json")
    assert created.json() == error(422, "condition", "Customer not found", "condition")


def test_a_second_root_reseller_admin_reaches_no_foreign_call_notify_or_trunk(client_for, two_roots):
    reseller_admin = client_for(EmployeeFactory(customer=two_roots["other_root"], access_level=AccessLevel.RESELLER_ADMIN))
    for foreign in two_roots["foreign"]:
        assert reseller_admin.get(f"/api/customer/{foreign.pk}/callnotify").json() == error(404, "customer", "Customer not found")
        assert reseller_admin.get(f"/api/customer/{foreign.pk}/trunk").json() == error(404, "customer", "Customer not found")
    assert reseller_admin.get(f"/api/customer/{two_roots['own'].pk}/trunk").json() == []


def test_admin_is_the_operators_level_only(capsys):
    from accounts.models import Employee

    operator = CustomerFactory(reseller=True, is_operator=True)
    other_root = CustomerFactory(reseller=True)
    call_command("createemployee", "ops@operator.example", "--customer", operator.pk, "--access-level", "ADMIN")
    assert Employee.objects.get(email="ops@operator.example").access_level == AccessLevel.ADMIN
    with pytest.raises(CommandError, match="ADMIN is the operator's level: only the operator's employees may hold it"):
        call_command("createemployee", "boss@other.example", "--customer", other_root.pk, "--access-level", "ADMIN")
    assert not Employee.objects.filter(email="boss@other.example").exists()
    call_command("createemployee", "boss@other.example", "--customer", other_root.pk, "--access-level", "RESELLER_ADMIN")


def test_the_admin_refuses_admin_for_anyone_but_the_operators_employees(admin_client):
    from accounts.models import Employee

    CustomerFactory(reseller=True, is_operator=True)
    other = CustomerFactory(reseller=True)
    employee = EmployeeFactory(customer=other, access_level=AccessLevel.RESELLER_ADMIN)
    response = admin_client.post(f"/admin/accounts/employee/{employee.pk}/change/", {
        "email": employee.email, "name": employee.name, "customer": other.pk, "access_level": "ADMIN", "state": "ENABLED",
    })
    assert response.status_code == 200 and "ADMIN is the operator&#x27;s level" in response.content.decode()
    assert Employee.objects.get(pk=employee.pk).access_level == AccessLevel.RESELLER_ADMIN
