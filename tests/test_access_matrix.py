"""The whole API's access table (docs/api.md §3): every endpoint × every caller × own/foreign customer.

`ACCESS` must name every (route, method) the URL map serves under /api/: a new endpoint without
a row here fails `test_every_endpoint_has_an_access_rule`. Each row says who may call it; the
matrix test then calls it as every kind of caller and checks the exact refusal (401, 403, or
404 `customer` for a customer out of reach) or that the call got past access control.
Ids in the URLs are of objects that do not exist: an allowed call answers that object's 404,
which shows it got past the access check without needing data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Permission
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import AccessLevel, Employee
from tests.accounts.factories import CustomerFactory, EmployeeFactory, issue_token

pytestmark = pytest.mark.django_db

L = AccessLevel


@dataclass(frozen=True)
class Caller:
    level: str
    features: tuple[str, ...] = ()
    perms: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return "+".join([self.level, *self.features, *(p.split(".")[1] for p in self.perms)])


Rule = Callable[[Caller], bool]


def anyone(c: Caller) -> bool:
    return True


def logged_in(c: Caller) -> bool:
    return c.level != L.NO_LOGIN


def customer_scope(c: Caller) -> bool:
    """call notify: VIEWER, MANAGER, OWNER of the customer; RESELLER(_ADMIN) above it; ADMIN."""
    return c.level in (L.VIEWER, L.MANAGER, L.OWNER, L.RESELLER, L.RESELLER_ADMIN, L.ADMIN)


def at_least(level: str) -> Rule:
    return lambda c: c.level != L.NO_LOGIN and L.rank(c.level) >= L.rank(level)


def admin(c: Caller) -> bool:
    return c.level == L.ADMIN


def reseller_admin_with(feature: str) -> Rule:
    return lambda c: c.level == L.ADMIN or (c.level == L.RESELLER_ADMIN and feature in c.features)


def has_perm(perm: str, otherwise: Rule) -> Rule:
    return lambda c: (c.level != L.NO_LOGIN and perm in c.perms) or otherwise(c)


@dataclass(frozen=True)
class Row:
    rule: Rule
    customer_scoped: bool = False  # the URL names a customer: out of reach is 404 `customer`
    public: bool = False  # no token needed


ACCESS: dict[tuple[str, str], Row] = {
    ("auth-login", "POST"): Row(anyone, public=True),
    ("auth-validate", "GET"): Row(anyone, public=True),
    ("auth-logout", "GET"): Row(logged_in),
    ("health", "GET"): Row(anyone, public=True),
    ("metrics", "GET"): Row(admin),
    ("schema", "GET"): Row(anyone, public=True),
    ("docs", "GET"): Row(anyone, public=True),
    ("callnotify-list", "GET"): Row(customer_scope, customer_scoped=True),
    ("callnotify-list", "POST"): Row(customer_scope, customer_scoped=True),
    ("callnotify-detail", "GET"): Row(customer_scope, customer_scoped=True),
    ("callnotify-detail", "POST"): Row(customer_scope, customer_scoped=True),
    ("callnotify-detail", "PATCH"): Row(customer_scope, customer_scoped=True),
    ("callnotify-detail", "DELETE"): Row(customer_scope, customer_scoped=True),
    ("callnotify-deliveries", "GET"): Row(customer_scope, customer_scoped=True),
    ("callnotify-test", "POST"): Row(customer_scope, customer_scoped=True),
    ("callevent", "POST"): Row(has_perm("callnotify.add_callevent", admin)),
    ("sbc-rule-list", "GET"): Row(at_least(L.RESELLER_ADMIN)),
    ("sbc-rule-list", "POST"): Row(reseller_admin_with("FINANCE")),
    ("sbc-rule-detail", "GET"): Row(at_least(L.RESELLER_ADMIN)),
    ("sbc-rule-detail", "POST"): Row(reseller_admin_with("FINANCE")),
    ("sbc-rule-detail", "PATCH"): Row(reseller_admin_with("FINANCE")),
    ("sbc-rule-detail", "DELETE"): Row(reseller_admin_with("FINANCE")),
    ("sbc-peer-list", "GET"): Row(reseller_admin_with("TELE")),
    ("sbc-peer-list", "POST"): Row(admin),
    ("sbc-peer-detail", "GET"): Row(reseller_admin_with("TELE")),
    ("sbc-peer-detail", "POST"): Row(admin),
    ("sbc-peer-detail", "PATCH"): Row(admin),
    ("sbc-peer-detail", "DELETE"): Row(admin),
    ("sbc-peer-host", "GET"): Row(reseller_admin_with("TELE")),
    ("sbc-peer-host", "POST"): Row(admin),
    ("sbc-route", "GET"): Row(has_perm("sbcrules.lookup_route", reseller_admin_with("TELE"))),
    ("dk-operator-list", "GET"): Row(at_least(L.VIEWER)),
    ("dk-operator-list", "POST"): Row(admin),
    ("dk-operator-detail", "GET"): Row(at_least(L.VIEWER)),
    ("dk-operator-detail", "POST"): Row(admin),
    ("dk-operator-detail", "PATCH"): Row(admin),
    ("dk-number-list", "GET"): Row(at_least(L.VIEWER)),
    ("dk-number", "GET"): Row(at_least(L.VIEWER)),
    ("dk-number", "POST"): Row(admin),
    ("apikey-list", "GET"): Row(admin),
    ("apikey-list", "POST"): Row(admin),
    ("apikey-detail", "GET"): Row(admin),
    ("apikey-detail", "DELETE"): Row(admin),
}

CALLERS = [
    *(Caller(level) for level in L.values),
    *(Caller(level, ("FINANCE", "TELE")) for level in (L.RESELLER, L.RESELLER_ADMIN)),
    Caller(L.RESELLER_ADMIN, ("FINANCE",)),
    Caller(L.RESELLER_ADMIN, ("TELE",)),
    Caller(L.VIEWER, perms=("callnotify.add_callevent", "sbcrules.lookup_route")),
]

DENIED = {"error": {"code": "access_denied", "status": 403, "message": "Insufficient access level"}}
CUSTOMER_NOT_FOUND = {"error": {"code": "customer", "status": 404, "message": "Customer not found"}}
LOGIN = {"error": {"code": "credentials_invalid", "status": 401, "message": "Authorization required, please login"}}


def api_routes() -> list[tuple[str, str, list[str]]]:
    """(name, route, methods) of every endpoint under /api/."""
    found = []

    def walk(patterns: list, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if not route.startswith("api/"):
                    continue
                callback = pattern.callback
                actions = getattr(callback, "actions", None)
                if actions:
                    methods = [m.upper() for m in actions]
                else:
                    view = callback.view_class
                    methods = [m.upper() for m in view.http_method_names if hasattr(view, m) and m not in ("options", "head")]
                found.append((pattern.name, route, methods))

    walk(get_resolver().url_patterns, "")
    return found


ENDPOINTS = [(name, route, method) for name, route, methods in api_routes() for method in methods]


def test_every_endpoint_has_an_access_rule():
    served = {(name, method) for name, _route, method in ENDPOINTS}
    assert served - set(ACCESS) == set(), "endpoints without a row in ACCESS"
    assert set(ACCESS) - served == set(), "rows in ACCESS for endpoints that do not exist"


def fill(route: str, customer_id: str) -> str:
    url = "/" + route
    for token, value in (
        ("<str:customer_id>", customer_id),
        ("<str:pk>", "a" * 24),
        ("<str:peer_id>", "NOPEER"),
        ("<str:host_ip>", "192.0.2.1"),
        ("<str:number>", "+4570000000"),
    ):
        url = url.replace(token, value)
    assert "<" not in url, f"give test_access_matrix.fill a value for {url}"
    return url


def make_employee(caller: Caller, customer) -> Employee:
    employee = EmployeeFactory(customer=customer, access_level=caller.level)
    for dotted in caller.perms:
        app_label, codename = dotted.split(".")
        permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
        if permission is not None:
            employee.user_permissions.add(permission)
    return employee


CASES = [
    pytest.param(name, route, method, caller, whose, id=f"{method} {route} {caller.name} {whose}")
    for name, route, method in ENDPOINTS
    for caller in CALLERS
    for whose in (["own", "foreign"] if ACCESS.get((name, method), Row(anyone)).customer_scoped else ["own"])
]


@pytest.mark.parametrize(("name", "route", "method", "caller", "whose"), CASES)
def test_access(api_client, name, route, method, caller, whose):
    row = ACCESS[(name, method)]
    own = CustomerFactory(reseller=True, features=list(caller.features))
    foreign = CustomerFactory()
    employee = make_employee(caller, own)
    url = fill(route, (own if whose == "own" else foreign).pk)
    if row.public:
        anonymous = api_client.generic(method, url, "{}", content_type="application/json").status_code
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(employee)}")

    response = api_client.generic(method, url, "{}", content_type="application/json")
    body = response.json() if response["Content-Type"].startswith("application/json") else None

    if row.public:
        assert response.status_code == anonymous, body  # the token changes nothing
    elif caller.level == L.NO_LOGIN:
        assert (response.status_code, body) == (401, LOGIN)
    elif row.customer_scoped and whose == "foreign" and caller.level != L.ADMIN:
        assert (response.status_code, body) == (404, CUSTOMER_NOT_FOUND)
    elif row.rule(caller):
        assert response.status_code not in (401, 403) and body != CUSTOMER_NOT_FOUND, body
    else:
        assert (response.status_code, body) == (403, DENIED)


# --- DELETED customers and resellers at every level (docs/api.md §3: nothing reaches through them) ---

LEVELS = ["top reseller", "sub-reseller", "customer"]  # top → sub → customer; an employee at each
UNDECIPHERABLE = {"error": {"code": "invalid_token", "status": 401, "message": "Undecipherable"}}
WRONG_LOGIN = {"error": {"code": "credentials_invalid", "status": 401, "message": "Wrong username or password"}}


def _tree() -> dict[str, tuple]:
    top = CustomerFactory(reseller=True, features=["FINANCE", "TELE"])
    sub = CustomerFactory(reseller=True, parent_reseller=top, features=["FINANCE", "TELE"])
    customer = CustomerFactory(parent_reseller=sub)
    levels = {"top reseller": (top, L.RESELLER_ADMIN), "sub-reseller": (sub, L.RESELLER_ADMIN), "customer": (customer, L.OWNER)}
    return {name: (c, EmployeeFactory(customer=c, access_level=level)) for name, (c, level) in levels.items()}


@pytest.mark.parametrize("how", ["saved", "updated"])  # the admin saves; `updated` skips save() and its hooks
@pytest.mark.parametrize("holder", LEVELS)
@pytest.mark.parametrize("deleted", LEVELS)
def test_nothing_reaches_through_a_deleted_customer(api_client, client_for, deleted, holder, how):
    tree = _tree()
    employee = tree[holder][1]
    raw = issue_token(employee, persist=True)
    gone = tree[deleted][0]
    if how == "saved":
        gone.state = "DELETED"
        gone.save()
    else:
        type(gone).objects.filter(pk=gone.pk).update(state="DELETED")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    bottom = tree["customer"][0]
    calls = {
        "dk operators": api_client.get("/api/dk/operator"),
        "call notify list": api_client.get(f"/api/customer/{bottom.pk}/callnotify"),
        "call notify create": api_client.post(f"/api/customer/{bottom.pk}/callnotify",
                                              {"url": "http://192.0.2.1/x", "method": "GET1", "selection": "ALL"}, format="json"),
        "rules": api_client.get("/api/sbc/rule"),
    }
    answers = {name: (r.status_code, r.json()) for name, r in calls.items()}
    validate = api_client.get(f"/api/auth/validateToken?token={raw}")
    login = api_client.post("/api/auth/login", {"username": employee.email, "password": "correct horse battery staple"}, format="json")
    if LEVELS.index(holder) >= LEVELS.index(deleted):  # the holder is at or below what was deleted
        ended = UNDECIPHERABLE if how == "saved" else LOGIN  # saving it deleted the tokens; else the rule refuses them
        assert answers == {name: (401, ended) for name in calls}
        assert (validate.status_code, validate.json()) == (401, ended)
        assert (login.status_code, login.json()) == (401, WRONG_LOGIN)
    else:  # above it: the deleted customer and all below it are "not found"
        assert answers["dk operators"][0] == 200 and answers["rules"][0] == 200
        assert answers["call notify list"] == answers["call notify create"] == (404, CUSTOMER_NOT_FOUND)
        assert validate.status_code == 200 and login.status_code == 200
    if how == "saved":  # restoring it brings no old token back
        gone.state = "ACTIVE"
        gone.save()
        still_dead = LEVELS.index(holder) >= LEVELS.index(deleted)
        assert (api_client.get("/api/dk/operator").status_code == 401) is still_dead


@pytest.mark.parametrize("persist", [True, False])
@pytest.mark.parametrize("state", ["DISABLED", "DELETED"])
def test_disabling_an_employee_ends_its_tokens_for_good(api_client, persist, state):
    employee = EmployeeFactory(access_level=L.OWNER)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(employee, persist=persist)}")
    assert api_client.get("/api/dk/operator").status_code == 200
    employee.state = state
    employee.save()
    response = api_client.get("/api/dk/operator")
    assert (response.status_code, response.json()) == (401, UNDECIPHERABLE)
    employee.state = "ENABLED"
    employee.save()
    response = api_client.get("/api/dk/operator")
    assert (response.status_code, response.json()) == (401, UNDECIPHERABLE)


@pytest.mark.parametrize("blocked", LEVELS)
def test_a_blocked_customer_or_reseller_keeps_login_and_tokens_alike(api_client, blocked):
    tree = _tree()
    employee = tree["customer"][1]
    raw = issue_token(employee, persist=True)
    customer = tree[blocked][0]
    customer.state = "BLOCKED"
    customer.save()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api_client.get(f"/api/customer/{tree['customer'][0].pk}/callnotify").status_code == 200
    login = api_client.post("/api/auth/login", {"username": employee.email, "password": "correct horse battery staple"}, format="json")
    assert login.status_code == 200  # docs/api.md: blocked is cut off from calls, not from its configuration
