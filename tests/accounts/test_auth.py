"""Log in, tokens and log out (docs/api.md §4), and the 401 variants of docs/api.md §2."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AccessLevel, Customer, Employee, Token, hash_token
from tests.accounts.factories import PASSWORD, CustomerFactory, EmployeeFactory, issue_token

pytestmark = pytest.mark.django_db

WRONG = {"error": {"code": "credentials_invalid", "status": 401, "message": "Wrong username or password"}}
LOGIN_REQUIRED = {"error": {"code": "credentials_invalid", "status": 401, "message": "Authorization required, please login"}}
UNDECIPHERABLE = {"error": {"code": "invalid_token", "status": 401, "message": "Undecipherable"}}
EXPIRED = {"error": {"code": "expired", "status": 401, "message": "Session has expired, please login"}}
FORMAT = {
    "error": {"code": "format_error", "status": 401, "message": "Authorization header format is Authorization: Bearer <token>"}
}
THROTTLED = {"error": {"code": "rate_limited", "status": 429, "message": "Too many requests"}}


def login(api_client, username, password=PASSWORD, **extra):
    return api_client.post("/api/auth/login", {"username": username, "password": password, **extra}, format="json")


def items_of(api_client, employee, token):
    return api_client.get(f"/api/customer/{employee.customer_id}/callnotify", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_login_answers_a_token_that_works_and_stores_only_its_hash(api_client):
    employee = EmployeeFactory(access_level=AccessLevel.MANAGER, email="mona@example.com")
    response = login(api_client, "Mona@Example.com")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "token": body["token"],
        "expiresInMinutes": 15,
        "employee": employee.pk,
        "customer": employee.customer_id,
        "accessLevel": "MANAGER",
    }
    assert len(body["token"]) >= 22  # >= 128 bits, url-safe base64
    stored = Token.objects.get()
    assert stored.key_hash == hash_token(body["token"]) and body["token"] not in stored.key_hash
    assert items_of(api_client, employee, body["token"]).status_code == 200


@pytest.mark.parametrize(("username", "password"), [("nobody@example.com", PASSWORD), ("who@example.com", "wrong")])
def test_wrong_username_or_password(api_client, username, password):
    EmployeeFactory(email="who@example.com")
    response = login(api_client, username, password)
    assert (response.status_code, response.json()) == (401, WRONG)
    assert not Token.objects.exists()


@pytest.mark.parametrize(
    "employee_kwargs",
    [
        {"state": Employee.State.DISABLED},
        {"state": Employee.State.DELETED},
        {"access_level": AccessLevel.NO_LOGIN},
        {"customer": lambda: CustomerFactory(state=Customer.State.DELETED)},
    ],
)
def test_employees_who_may_not_log_in_get_wrong_username_or_password(api_client, employee_kwargs):
    kwargs = {k: (v() if callable(v) else v) for k, v in employee_kwargs.items()}
    EmployeeFactory(email="x@example.com", **kwargs)
    assert login(api_client, "x@example.com").json() == WRONG


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"password": PASSWORD}, "username", "Username is invalid"),
        ({"username": 5, "password": PASSWORD}, "username", "Username is invalid"),
        ({"username": "a@example.com"}, "password", "Password is invalid"),
        ({"username": "a@example.com", "password": PASSWORD, "persist": "yes"}, "persist", "Persist is invalid"),
    ],
)
def test_login_body_errors(api_client, body, code, message):
    response = api_client.post("/api/auth/login", body, format="json")
    assert response.json() == {"error": {"code": code, "status": 422, "message": message, "path": code}}


def test_repeated_failures_are_throttled_even_with_the_right_password(api_client, settings):
    settings.LOGIN_FAILURES_PER_USER = 3
    EmployeeFactory(email="t@example.com")
    for _ in range(3):
        assert login(api_client, "t@example.com", "wrong").status_code == 401
    response = login(api_client, "t@example.com")
    assert (response.status_code, response.json()) == (429, THROTTLED)
    assert response["Retry-After"] == str(settings.LOGIN_FAILURE_WINDOW)  # as the error table promises
    assert not Token.objects.exists()


def login_from(api_client, username, password=PASSWORD, **meta):
    """A login whose request carries `meta` (REMOTE_ADDR, HTTP_X_FORWARDED_FOR)."""
    return api_client.post("/api/auth/login", {"username": username, "password": password}, format="json", **meta)


def test_failures_elsewhere_do_not_lock_the_owner_out(api_client, settings):
    settings.LOGIN_FAILURES_PER_USER = 3
    EmployeeFactory(email="t@example.com")
    for _ in range(10):
        login_from(api_client, "t@example.com", "wrong", REMOTE_ADDR="192.0.2.66")  # an attacker who knows the name
    assert login_from(api_client, "t@example.com", REMOTE_ADDR="192.0.2.66").json() == THROTTLED
    assert login_from(api_client, "t@example.com", REMOTE_ADDR="198.51.100.7").status_code == 200  # the owner


@pytest.mark.parametrize(("proxies", "forwarded", "seen_as"), [
    (0, "192.0.2.1", "127.0.0.1"),  # no proxy configured: a client's own X-Forwarded-For is not believed
    (1, "192.0.2.1", "192.0.2.1"),  # one proxy: the address it saw
    (1, "203.0.113.9, 192.0.2.1", "192.0.2.1"),  # what the client wrote further left is not believed
    (2, "203.0.113.9, 192.0.2.1", "203.0.113.9"),  # two proxies: the address the outer one saw
    (3, "192.0.2.1", "192.0.2.1"),  # fewer hops than proxies: the leftmost
])
def test_the_client_address_is_read_through_the_trusted_proxies_only(api_client, settings, proxies, forwarded, seen_as):
    from accounts.views import client_address

    settings.TRUSTED_PROXIES = proxies
    request = api_client.get("/api/health", HTTP_X_FORWARDED_FOR=forwarded).wsgi_request
    assert client_address(request) == seen_as


def test_behind_a_proxy_one_client_cannot_lock_out_the_others(api_client, settings):
    settings.TRUSTED_PROXIES = 1
    settings.LOGIN_FAILURES_PER_ADDRESS = 4
    EmployeeFactory(email="t@example.com")
    for n in range(6):
        login_from(api_client, f"guess{n}@example.com", "wrong", HTTP_X_FORWARDED_FOR="192.0.2.66")
    assert login_from(api_client, "t@example.com", HTTP_X_FORWARDED_FOR="192.0.2.66").json() == THROTTLED
    # every client has the proxy's REMOTE_ADDR (127.0.0.1 here); the others still get in
    assert login_from(api_client, "t@example.com", HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 200
    spoofed = login_from(api_client, "t@example.com", HTTP_X_FORWARDED_FOR="198.51.100.8, 192.0.2.66")
    assert spoofed.json() == THROTTLED  # the blocked client cannot escape by writing its own hop


def test_failures_from_one_address_are_throttled_across_user_names(api_client, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 4
    EmployeeFactory(email="t@example.com")
    for n in range(4):
        login(api_client, f"guess{n}@example.com", "wrong")
    assert login(api_client, "t@example.com").json() == THROTTLED


def test_a_success_resets_the_user_count(api_client, settings):
    settings.LOGIN_FAILURES_PER_USER = 2
    EmployeeFactory(email="t@example.com")
    login(api_client, "t@example.com", "wrong")
    assert login(api_client, "t@example.com").status_code == 200
    login(api_client, "t@example.com", "wrong")
    assert login(api_client, "t@example.com").status_code == 200


def test_an_expired_token_is_removed_once_reported(api_client):
    employee = EmployeeFactory()
    token = issue_token(employee)
    Token.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert items_of(api_client, employee, token).json() == EXPIRED
    assert not Token.objects.exists()
    assert items_of(api_client, employee, token).json() == UNDECIPHERABLE


def test_a_new_token_lasts_the_configured_minutes(settings):
    settings.TOKEN_EXPIRY_MINUTES = 15
    before = timezone.now()
    Token.objects.issue(EmployeeFactory())
    stored = Token.objects.get()
    assert before + timedelta(minutes=15) <= stored.expires_at <= timezone.now() + timedelta(minutes=15)


def test_expired_token_answers_session_expired(api_client):
    employee = EmployeeFactory()
    token = issue_token(employee)
    Token.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = items_of(api_client, employee, token)
    assert (response.status_code, response.json()) == (401, EXPIRED)


def test_use_pushes_the_expiry_forward(api_client):
    employee = EmployeeFactory()
    token = issue_token(employee)
    old = timezone.now() - timedelta(minutes=10)
    Token.objects.update(last_used_at=old, expires_at=old + timedelta(minutes=15))
    assert items_of(api_client, employee, token).status_code == 200
    stored = Token.objects.get()
    assert stored.expires_at > timezone.now() + timedelta(minutes=14)


def test_persist_token_does_not_expire(api_client):
    employee = EmployeeFactory()
    response = login(api_client, employee.email, persist=True)
    assert response.json()["expiresInMinutes"] == -1
    stored = Token.objects.get()
    assert stored.persist and stored.expires_at is None
    Token.objects.update(last_used_at=timezone.now() - timedelta(days=400))
    assert items_of(api_client, employee, response.json()["token"]).status_code == 200


def test_logout_ends_all_tokens_of_the_caller_only(api_client):
    employee, other = EmployeeFactory(), EmployeeFactory()
    first, second, others = issue_token(employee), issue_token(employee, persist=True), issue_token(other)
    response = api_client.get("/api/auth/logout", HTTP_AUTHORIZATION=f"Bearer {first}")
    assert (response.status_code, response.json()) == (200, {"success": True})
    for token in (first, second):
        assert items_of(api_client, employee, token).json() == UNDECIPHERABLE
    assert items_of(api_client, other, others).status_code == 200


def test_disabling_an_employee_stops_its_tokens(api_client):
    employee = EmployeeFactory()
    token = issue_token(employee)
    Employee.objects.filter(pk=employee.pk).update(state=Employee.State.DISABLED)
    response = items_of(api_client, employee, token)
    assert (response.status_code, response.json()) == (401, LOGIN_REQUIRED)


def test_validate_token(api_client):
    employee = EmployeeFactory(access_level=AccessLevel.RESELLER)
    token = issue_token(employee)
    response = api_client.get("/api/auth/validateToken", {"token": token})
    assert response.json() == {
        "success": True, "employee": employee.pk, "customer": employee.customer_id, "accessLevel": "RESELLER"
    }
    for bad in ("", "nonsense"):
        response = api_client.get("/api/auth/validateToken", {"token": bad})
        assert (response.status_code, response.json()) == (401, UNDECIPHERABLE)


@pytest.mark.parametrize(
    ("header", "body"),
    [
        (None, LOGIN_REQUIRED),
        ("Token abc", FORMAT),
        ("Bearer", FORMAT),
        ("Bearer a b", FORMAT),
        ("Basic dXNlcjpwdw==", FORMAT),
        ("Bearer not-a-real-token", UNDECIPHERABLE),
    ],
)
def test_authorization_header_errors(api_client, header, body):
    employee = EmployeeFactory()
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = api_client.get(f"/api/customer/{employee.customer_id}/callnotify", **extra)
    assert (response.status_code, response.json()) == (401, body)
    assert response["WWW-Authenticate"].startswith("Bearer")
