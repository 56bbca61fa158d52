"""createcustomer, createemployee, issuetoken and seeddemo: names, flags and output scripts rely on."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import AccessLevel, Customer, Employee, Token, hash_token
from callnotify.models import CallNotify
from tests.accounts.factories import CustomerFactory, EmployeeFactory

pytestmark = pytest.mark.django_db


def run(*args: str, **env) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def test_createcustomer_prints_the_new_id():
    parent = CustomerFactory(reseller=True)
    new_id = run("createcustomer", "Acme ApS", "--parent", parent.pk.upper(), "--features", "finance, TELE", "--reseller")
    customer = Customer.objects.get(pk=new_id)
    assert (customer.name, customer.parent_reseller, customer.is_reseller, customer.features) == (
        "Acme ApS", parent, True, ["FINANCE", "TELE"]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--parent", "f" * 24], "No customer with id"),
        (["--features", "FIN ANCE"], "Features must be"),
    ],
)
def test_createcustomer_refuses_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        run("createcustomer", "X", *args)
    assert not Customer.objects.exists()


def test_createcustomer_refuses_a_parent_that_is_not_a_reseller():
    plain = CustomerFactory()
    with pytest.raises(CommandError, match="must be a reseller"):
        run("createcustomer", "X", "--parent", plain.pk)


def test_createemployee_with_password_flag_can_log_in(api_client):
    customer = CustomerFactory()
    new_id = run("createemployee", "Ops@Example.com", "--customer", customer.pk, "--access-level", "OWNER",
                 "--password", "a long enough password", "--name", "Ops")
    employee = Employee.objects.get(pk=new_id)
    assert (employee.email, employee.access_level, employee.name) == ("ops@example.com", "OWNER", "Ops")
    response = api_client.post("/api/auth/login", {"username": "ops@example.com", "password": "a long enough password"}, format="json")
    assert response.status_code == 200


def test_createemployee_reads_the_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("TELECOMX_PASSWORD", "from the environment")
    customer = CustomerFactory()
    employee = Employee.objects.get(pk=run("createemployee", "e@example.com", "--customer", customer.pk, "--access-level", "VIEWER"))
    assert employee.check_password("from the environment")


def test_createemployee_without_any_password_makes_a_token_only_account(monkeypatch):
    monkeypatch.delenv("TELECOMX_PASSWORD", raising=False)
    customer = CustomerFactory()
    employee = Employee.objects.get(pk=run("createemployee", "svc@example.com", "--customer", customer.pk, "--access-level", "VIEWER"))
    assert not employee.has_usable_password()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--customer", "f" * 24, "--access-level", "OWNER"], "No customer"),
        (["--customer", "{customer}", "--access-level", "OWNER", "--password", "short"], "too short"),
        (["--customer", "{customer}", "--access-level", "OWNER", "--password", "a long enough password", "--name", "x" * 300], "at most 200"),
    ],
)
def test_createemployee_refuses_bad_input(args, message):
    customer = CustomerFactory()
    with pytest.raises(CommandError, match=message):
        run("createemployee", "e@example.com", *[a.format(customer=customer.pk) for a in args])
    assert not Employee.objects.exists()


def test_createemployee_refuses_a_duplicate_email():
    existing = EmployeeFactory(email="dup@example.com")
    with pytest.raises(CommandError, match="exists already"):
        run("createemployee", "DUP@example.com", "--customer", existing.customer_id, "--access-level", "OWNER", "--password", "a long enough password")


@pytest.mark.parametrize("persist", [False, True])
def test_issuetoken_prints_a_working_token(api_client, persist):
    employee = EmployeeFactory(access_level=AccessLevel.OWNER)
    raw = run("issuetoken", employee.email, *(["--persist"] if persist else []))
    token = Token.objects.get(key_hash=hash_token(raw))
    assert token.persist is persist
    response = api_client.get(f"/api/customer/{employee.customer_id}/callnotify", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200


def test_issuetoken_refuses_unknown_and_disabled_employees():
    with pytest.raises(CommandError, match="No employee"):
        run("issuetoken", "nobody@example.com")
    disabled = EmployeeFactory(disabled=True)
    with pytest.raises(CommandError, match="cannot log in"):
        run("issuetoken", disabled.email)
    assert not Token.objects.exists()


def test_seeddemo_twice_creates_nothing_new_and_its_logins_work(api_client):
    out = run("seeddemo")
    counts = (Customer.objects.count(), Employee.objects.count(), CallNotify.objects.count())
    assert counts[0] >= 4 and counts[1] >= 5 and counts[2] >= 2
    assert "admin@telecomx.example" in out
    run("seeddemo")
    assert (Customer.objects.count(), Employee.objects.count(), CallNotify.objects.count()) == counts
    password = out.split("password for all: ")[1].split(")")[0]
    response = api_client.post("/api/auth/login", {"username": "owner@hansen.example", "password": password}, format="json")
    assert response.status_code == 200
    reseller = Customer.objects.get(name="Nordic Reseller ApS")
    assert Customer.objects.filter(parent_reseller=reseller).count() == 2


def test_revoketokens_by_email_ends_all_of_them(api_client):
    employee, other = EmployeeFactory(), EmployeeFactory()
    for _ in range(2):
        Token.objects.issue(employee)
    Token.objects.issue(other)
    assert run("revoketokens", employee.email.upper()) == "2 token(s) ended"
    assert list(Token.objects.values_list("employee", flat=True)) == [other.pk]


def test_revoketokens_by_raw_token_ends_only_that_one(api_client):
    employee = EmployeeFactory(access_level=AccessLevel.OWNER)
    _, leaked = Token.objects.issue(employee)
    _, kept = Token.objects.issue(employee)
    assert run("revoketokens", f"--token={leaked}") == "1 token(s) ended"
    url = f"/api/customer/{employee.customer_id}/callnotify"
    assert api_client.get(url, HTTP_AUTHORIZATION=f"Bearer {leaked}").status_code == 401
    assert api_client.get(url, HTTP_AUTHORIZATION=f"Bearer {kept}").status_code == 200
    with pytest.raises(CommandError, match="No such token"):
        run("revoketokens", f"--token={leaked}")
