"""The whole API's access table (docs/api.md §3): every served route × every kind of caller × whose customer.

`ACCESS` must name every (route, method) the URL map serves under /api/: a new endpoint without a
row here fails `test_every_endpoint_has_an_access_rule`. Each row says who may call it (written
from docs/api.md, independently of accounts/permissions.py), and what a real call answers: the world
below holds a customer tree, call notify items, peers, a rule, a DK operator and a number range,
so an allowed call is checked for its exact status and body (and what it stored or deleted), and
a refused one for the exact refusal (401, 403, or 404 `customer` for a customer out of reach) and
for changing nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.models import Permission

from accounts.models import AccessLevel, ApiKey, Customer, Employee
from callnotify.models import CallEvent, CallNotify
from sbcrules.models import DkOperator, Peer, PortedNumber, Rule, Trunk
from tests.accounts.factories import CustomerFactory, EmployeeFactory, issue_token
from tests.routes import api_endpoints
from tests.callnotify.factories import CallNotifyFactory
from tests.sbcrules.factories import DkOperatorFactory, NumberRangeFactory, PeerFactory, RuleFactory, TrunkFactory

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


Who = Callable[[Caller], bool]


def anyone(c: Caller) -> bool:
    return True


def logged_in(c: Caller) -> bool:
    return c.level != L.NO_LOGIN


def at_least(level: str) -> Who:
    return lambda c: c.level != L.NO_LOGIN and L.rank(c.level) >= L.rank(level)


def admin(c: Caller) -> bool:
    return c.level == L.ADMIN


def reseller_admin_with_tele_below(c: Caller, whose: str) -> bool:
    """Trunks (docs/api.md §3): ADMIN; RESELLER_ADMIN with TELE for customers that belong to its
    customer — below it, not its own customer."""
    return c.level == L.ADMIN or (c.level == L.RESELLER_ADMIN and "TELE" in c.features and whose != "own")


def reseller_admin_with(feature: str) -> Who:
    return lambda c: c.level == L.ADMIN or (c.level == L.RESELLER_ADMIN and feature in c.features)


def has_perm(perm: str, otherwise: Who) -> Who:
    return lambda c: (c.level != L.NO_LOGIN and perm in c.perms) or otherwise(c)


# call notify (docs/api.md §3): which customers of the tree each level may act on; PERSONAL sees its
# own customer but may not act on it (403), and anything out of reach is 404 `customer`.
RELATIONS = ["own", "child", "grandchild", "unrelated", "missing"]
REACH = {
    L.PERSONAL: set(),
    L.VIEWER: {"own"},
    L.MANAGER: {"own"},
    L.OWNER: {"own"},
    L.RESELLER: {"own", "child", "grandchild"},
    L.RESELLER_ADMIN: {"own", "child", "grandchild"},
    L.ADMIN: {"own", "child", "grandchild", "unrelated"},
}
MISSING_CUSTOMER, MISSING_ITEM = "f" * 24, "e" * 24


@dataclass
class World:
    """What every case starts from; `customer` and `item` are the ones the URL names."""

    employee: Employee
    customers: dict[str, Customer]
    items: dict[str, CallNotify]
    tdc: Peer | None
    rule: Rule | None
    whose: str = "own"
    key: ApiKey | None = None
    trunks: dict[str, Trunk] = field(default_factory=dict)

    @property
    def customer_id(self) -> str:
        return self.customers[self.whose].pk if self.whose in self.customers else MISSING_CUSTOMER

    @property
    def item_id(self) -> str:
        return self.items[self.whose].pk if self.whose in self.items else MISSING_ITEM

    @property
    def trunk_id(self) -> str:
        return self.trunks[self.whose].pk if self.whose in self.trunks else MISSING_ITEM


def build_world(caller: Caller, whose: str, *, routing: bool, trunks: bool = False) -> World:
    """operator › the caller's reseller › [child, sub-reseller › grandchild]; an unrelated customer;
    a call notify item each; with `routing`, peers TDC (host 192.0.2.1, default) and SPARE, rule
    PREFIX +45 → TDC, and DK operator 01011 holding +4570."""
    operator = CustomerFactory(reseller=True)
    own = CustomerFactory(reseller=True, parent_reseller=operator, features=list(caller.features))
    sub = CustomerFactory(reseller=True, parent_reseller=own)
    customers = {
        "own": own,
        "child": CustomerFactory(parent_reseller=own),
        "grandchild": CustomerFactory(parent_reseller=sub),
        "unrelated": CustomerFactory(parent_reseller=CustomerFactory(reseller=True)),
    }
    # Documentation addresses: the test call refuses them before connecting (nothing is sent).
    items = {relation: CallNotifyFactory(customer=customer, url=f"http://192.0.2.{n}:4000/call")
             for n, (relation, customer) in enumerate(customers.items(), start=1)}
    trunks = {relation: TrunkFactory(customer=customer, name=f"{relation} PBX", sources=[f"198.51.100.{n}"])
              for n, (relation, customer) in enumerate(customers.items(), start=1)} if trunks else {}
    employee = EmployeeFactory(customer=own, access_level=caller.level)
    for dotted in caller.perms:
        app_label, codename = dotted.split(".")
        employee.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    if not routing:
        return World(employee, customers, items, None, None, whose, trunks=trunks)
    tdc = PeerFactory(id="TDC", name="", hosts=["192.0.2.1"], is_default=True)
    PeerFactory(id="SPARE", name="", hosts=[])
    rule = RuleFactory(type="PREFIX", condition="+45", peer=tdc)
    NumberRangeFactory(prefix="+4570", operator=DkOperatorFactory(id="01011", name="TDC NET A/S", address=""))
    key, _raw = ApiKey.objects.issue(name="kamailio-1", created_by=operator_admin(operator))
    return World(employee, customers, items, tdc, rule, whose, key, trunks)


def operator_admin(operator: Customer) -> Employee:
    return EmployeeFactory(customer=operator, access_level=L.ADMIN)


def key_body(api_key: ApiKey, /, **changed: Any) -> dict[str, Any]:
    key = api_key
    return {"_id": key.pk, "name": key.name, "account": key.employee_id, "prefix": key.prefix,
            "createdAt": key.created_at.isoformat().replace("+00:00", "Z"), "createdBy": key.created_by_id,
            "revokedAt": None, **changed}


def created_key(w: World, body: dict) -> dict:
    key = ApiKey.objects.get(pk=body["_id"], name="kamailio-2", created_by=w.employee)
    assert body["key"].startswith(key.prefix)
    return key_body(key, key=body["key"])


def revoked_key(w: World, body: dict) -> dict:
    assert w.key is not None
    w.key.refresh_from_db()
    assert w.key.revoked_at is not None
    return key_body(w.key, revokedAt=body["revokedAt"])


NO_WINDOW = {"delivered": 0, "failed": 0, "p50DurationMs": None, "p95DurationMs": None}
NO_HEALTH = {"lastHour": NO_WINDOW, "lastDay": NO_WINDOW, "lastSuccessAt": None, "lastFailureAt": None,
             "consecutiveFailures": 0, "failingSince": None, "disabledReason": None}


def item_body(item: CallNotify, **changed: Any) -> dict[str, Any]:
    body = {"_id": item.pk, "customer": item.customer_id, "url": item.url, "method": item.method,
            "selection": item.selection, "state": item.state, "health": NO_HEALTH}
    return {**body, **changed}


def rule_body(rule: Rule, **changed: Any) -> dict[str, Any]:
    return {"_id": rule.pk, "type": rule.type, "condition": rule.condition, "peer": rule.peer_id, "note": rule.note, **changed}


TDC = {"_id": "TDC", "name": "", "default": True, "hosts": [{"host": "192.0.2.1", "state": "up", "port": 5060, "transport": "udp"}],
       "networkInterface": "", "up": True}
SPARE = {"_id": "SPARE", "name": "", "default": False, "hosts": [], "networkInterface": "", "up": True}
OPERATOR = {"_id": "01011", "name": "TDC NET A/S", "address": ""}
NEW_ITEM = {"url": "http://100.64.1.1:4000/call", "method": "POSTJSON", "selection": "ALL"}
EVENT = {"callId": "matrix-1", "type": "SIP", "direction": "INBOUND", "state": "RINGING",
         "aNumber": "+4512345678", "bNumber": "+4570305050", "timestamp": "2026-11-22T10:15:00Z"}


def trunk_body(trunk: Trunk, **changed: Any) -> dict[str, Any]:
    body = {"_id": trunk.pk, "customer": trunk.customer_id, "name": trunk.name, "sources": trunk.sources,
            "maxCalls": trunk.max_calls, "callsPerSecond": trunk.calls_per_second,
            "trustCustomerHeader": trunk.trust_customer_header, "state": trunk.state}
    return {**body, **changed}


def created_trunk(w: World, body: dict) -> dict:
    return trunk_body(Trunk.objects.get(pk=body["_id"], customer_id=w.customer_id, sources=["203.0.113.99"]))


def created_item(w: World, body: dict) -> dict:
    return item_body(CallNotify.objects.get(pk=body["_id"], customer_id=w.customer_id))


def created_rule(w: World, body: dict) -> dict:
    return rule_body(Rule.objects.get(pk=body["_id"], type="PREFIX", condition="+47", peer_id="TDC"))


def gone(model: type, pk: Callable[[World], str]) -> Callable[[World, dict], dict]:
    def expected(w: World, body: dict) -> dict:
        assert not model.objects.filter(pk=pk(w)).exists()
        return {"success": True}

    return expected


def sample_event_answer(w: World, body: dict) -> dict:
    assert set(body) == {"delivered", "status", "error", "durationMs"}
    return {**body, "delivered": False, "status": None, "error": "refused: URL points to an invalid IP address"}


def ready_answer(body: dict) -> dict:
    """A web node with its database and no cache or broker; the index was just confirmed."""
    assert 0 <= body["indexAgeSeconds"] < 60
    return {"status": "ok", "database": "ok", "cache": "not configured", "broker": "not configured",
            "indexAgeSeconds": body["indexAgeSeconds"]}


def metrics_answer(w: World, body: dict) -> dict:
    assert body["routing"]["rules"] == 1 and body["routing"]["defaultPeer"] == "TDC"
    return body


def event_answer(w: World, body: dict) -> dict:
    event = CallEvent.objects.get(pk=body["_id"], call_id="matrix-1", customer=w.customers["own"])
    return {"_id": event.pk, "sequence": 1, "deliveries": 1}


def login_answer(w: World, body: dict) -> dict:
    return {"error": {"code": "credentials_invalid", "status": 401, "message": "Wrong username or password"}}


@dataclass(frozen=True)
class Row:
    who: Who
    url: Callable[[World], str]
    ok: int  # the status of an allowed call
    answer: Callable[[World, Any], Any]  # the body of an allowed call: expected from the world (and the body's new ids)
    body: dict | None = None
    customer_scoped: bool = False  # the URL names a customer: out of reach is 404 `customer`
    # who may, by the caller and the customer's relation to it (instead of `who` alone)
    who_for: Callable[[Caller, str], bool] | None = None
    public: bool = False  # no token needed; a token changes nothing
    is_json: bool = True  # False: the answer is a page or a schema, checked by its content type
    content_type: str = field(default="application/json")


def customer_row(url: Callable[[World], str], ok: int, answer: Callable[[World, Any], Any], body: dict | None = None,
                 who: Who = logged_in) -> Row:
    """Under a customer: reach decides (404 `customer`, PERSONAL 403), then `who` (403)."""
    return Row(who, url, ok, answer, body, customer_scoped=True)


def trunk_row(url: Callable[[World], str], ok: int, answer: Callable[[World, Any], Any], body: dict | None = None) -> Row:
    """Trunks: reach decides (404 `customer`, PERSONAL 403), then RESELLER_ADMIN with TELE below its customer, or ADMIN (403)."""
    return Row(logged_in, url, ok, answer, body, customer_scoped=True, who_for=reseller_admin_with_tele_below)


TRUNKS = lambda w: f"/api/customer/{w.customer_id}/trunk"  # noqa: E731
TRUNK = lambda w: f"{TRUNKS(w)}/{w.trunk_id}"  # noqa: E731
ITEMS = lambda w: f"/api/customer/{w.customer_id}/callnotify"  # noqa: E731
ITEM = lambda w: f"{ITEMS(w)}/{w.item_id}"  # noqa: E731
RULE = lambda w: f"/api/sbc/rule/{w.rule.pk}"  # noqa: E731

ACCESS: dict[tuple[str, str], Row] = {
    ("auth-login", "POST"): Row(anyone, lambda w: "/api/auth/login", 401, login_answer,
                                {"username": "nobody@example.com", "password": "not-the-password"}, public=True),
    ("auth-validate", "GET"): Row(anyone, lambda w: "/api/auth/validateToken?token=x", 401,
                                  lambda w, b: {"error": {"code": "invalid_token", "status": 401, "message": "Undecipherable"}}, public=True),
    ("auth-logout", "GET"): Row(logged_in, lambda w: "/api/auth/logout", 200, lambda w, b: {"success": True}),
    ("health", "GET"): Row(anyone, lambda w: "/api/health", 200, lambda w, b: ready_answer(b), public=True),
    ("health-ready", "GET"): Row(anyone, lambda w: "/api/health/ready", 200, lambda w, b: ready_answer(b), public=True),
    ("health-live", "GET"): Row(anyone, lambda w: "/api/health/live", 200, lambda w, b: {"status": "ok"}, public=True),
    ("metrics", "GET"): Row(admin, lambda w: "/api/metrics", 200, metrics_answer),
    ("schema", "GET"): Row(anyone, lambda w: "/api/schema", 200, lambda w, b: None, public=True, is_json=False,
                           content_type="application/vnd.oai.openapi"),
    ("docs", "GET"): Row(anyone, lambda w: "/api/docs", 200, lambda w, b: None, public=True, is_json=False, content_type="text/html"),
    ("callnotify-list", "GET"): customer_row(ITEMS, 200, lambda w, b: [item_body(w.items[w.whose])]),
    ("callnotify-list", "POST"): customer_row(ITEMS, 201, created_item, NEW_ITEM),
    ("callnotify-detail", "GET"): customer_row(ITEM, 200, lambda w, b: item_body(w.items[w.whose])),
    ("callnotify-detail", "POST"): customer_row(ITEM, 200, lambda w, b: item_body(w.items[w.whose], selection="SIP"), {"selection": "SIP"}),
    ("callnotify-detail", "PATCH"): customer_row(ITEM, 200, lambda w, b: item_body(w.items[w.whose], selection="SIP"), {"selection": "SIP"}),
    ("callnotify-detail", "DELETE"): customer_row(ITEM, 200, gone(CallNotify, lambda w: w.item_id)),
    ("callnotify-deliveries", "GET"): customer_row(lambda w: f"{ITEM(w)}/deliveries", 200,
                                                   lambda w, b: {"offset": 0, "limit": 100, "total": 0, "deliveries": []}),
    ("callnotify-test", "POST"): customer_row(lambda w: f"{ITEM(w)}/test", 200, sample_event_answer),
    # replay and recovery: MANAGER and up within reach; an unknown delivery shows the call got past access
    ("callnotify-delivery-retry", "POST"): customer_row(
        lambda w: f"{ITEM(w)}/deliveries/{'d' * 24}/retry", 404,
        lambda w, b: {"error": {"code": "not_found", "status": 404, "message": "Delivery not found"}}, who=at_least(L.MANAGER)),
    ("callnotify-recover", "POST"): customer_row(lambda w: f"{ITEM(w)}/recover", 202, lambda w, b: {"queued": 0, "more": False},
                                                 {"since": "2026-11-22T00:00:00Z"}, who=at_least(L.MANAGER)),
    ("customer-callevents", "GET"): customer_row(lambda w: f"/api/customer/{w.customer_id}/callevent", 200,
                                                 lambda w, b: {"offset": 0, "limit": 100, "total": 0, "callEvents": []}),
    ("trunk-list", "GET"): trunk_row(TRUNKS, 200, lambda w, b: [trunk_body(w.trunks[w.whose])]),
    ("trunk-list", "POST"): trunk_row(TRUNKS, 201, created_trunk, {"name": "new", "sources": ["203.0.113.99"]}),
    ("trunk-detail", "GET"): trunk_row(TRUNK, 200, lambda w, b: trunk_body(w.trunks[w.whose])),
    ("trunk-detail", "POST"): trunk_row(TRUNK, 200, lambda w, b: trunk_body(w.trunks[w.whose], maxCalls=5), {"maxCalls": 5}),
    ("trunk-detail", "PATCH"): trunk_row(TRUNK, 200, lambda w, b: trunk_body(w.trunks[w.whose], maxCalls=5), {"maxCalls": 5}),
    ("trunk-detail", "DELETE"): trunk_row(TRUNK, 200, gone(Trunk, lambda w: w.trunk_id)),
    ("callevent", "POST"): Row(has_perm("callnotify.add_callevent", admin), lambda w: "/api/callevent", 202, event_answer,
                               {**EVENT, "customer": "<own>"}),
    ("sbc-rule-list", "GET"): Row(at_least(L.RESELLER_ADMIN), lambda w: "/api/sbc/rule", 200, lambda w, b: [rule_body(w.rule)]),
    # every rule type, as the published rule pages say (the world's rule is a PREFIX rule); CUSTOMER rules: test_customer_rules below
    ("sbc-rule-list", "POST"): Row(reseller_admin_with("FINANCE"), lambda w: "/api/sbc/rule", 201, created_rule,
                                   {"type": "PREFIX", "condition": "+47", "peer": "tdc"}),
    ("sbc-rule-detail", "GET"): Row(at_least(L.RESELLER_ADMIN), RULE, 200, lambda w, b: rule_body(w.rule)),
    ("sbc-rule-detail", "POST"): Row(reseller_admin_with("FINANCE"), RULE, 200, lambda w, b: rule_body(w.rule, note="x"), {"note": "x"}),
    ("sbc-rule-detail", "PATCH"): Row(reseller_admin_with("FINANCE"), RULE, 200, lambda w, b: rule_body(w.rule, note="x"), {"note": "x"}),
    ("sbc-rule-detail", "DELETE"): Row(reseller_admin_with("FINANCE"), RULE, 200, gone(Rule, lambda w: w.rule.pk)),
    ("sbc-peer-list", "GET"): Row(reseller_admin_with("TELE"), lambda w: "/api/sbc/peer", 200, lambda w, b: [SPARE, TDC]),
    ("sbc-peer-list", "POST"): Row(admin, lambda w: "/api/sbc/peer", 201, lambda w, b: {**SPARE, "_id": Peer.objects.get(pk="NEW").pk},
                                   {"_id": "NEW"}),
    ("sbc-peer-detail", "GET"): Row(reseller_admin_with("TELE"), lambda w: "/api/sbc/peer/tdc", 200, lambda w, b: TDC),
    ("sbc-peer-detail", "POST"): Row(admin, lambda w: "/api/sbc/peer/TDC", 200, lambda w, b: {**TDC, "name": "x"}, {"name": "x"}),
    ("sbc-peer-detail", "PATCH"): Row(admin, lambda w: "/api/sbc/peer/TDC", 200, lambda w, b: {**TDC, "name": "x"}, {"name": "x"}),
    ("sbc-peer-detail", "DELETE"): Row(admin, lambda w: "/api/sbc/peer/SPARE", 200, gone(Peer, lambda w: "SPARE")),
    ("sbc-peer-host", "GET"): Row(reseller_admin_with("TELE"), lambda w: "/api/sbc/peer/TDC/host/192.0.2.1", 200,
                                  lambda w, b: {"host": "192.0.2.1", "down": False}),
    ("sbc-peer-host", "POST"): Row(admin, lambda w: "/api/sbc/peer/TDC/host/192.0.2.1", 200,
                                   lambda w, b: {"host": "192.0.2.1", "down": True}, {"down": True}),
    ("sbc-route", "GET"): Row(has_perm("sbcrules.lookup_route", reseller_admin_with("TELE")), lambda w: "/api/sbc/route?bnumber=%2B4512345678",
                              200, lambda w, b: {"peer": "TDC", "rule": {"_id": w.rule.pk, "type": "PREFIX", "condition": "+45"},
                                                 "reason": "prefix", "chain": ["TDC"],
                                                 "targets": [{"peer": "TDC", "host": "192.0.2.1", "port": 5060, "transport": "udp"}]}),
    ("dk-operator-list", "GET"): Row(at_least(L.VIEWER), lambda w: "/api/dk/operator", 200,
                                     lambda w, b: {"offset": 0, "limit": 100, "total": 1, "operators": [OPERATOR]}),
    ("dk-operator-list", "POST"): Row(admin, lambda w: "/api/dk/operator", 201,
                                      lambda w, b: {"_id": DkOperator.objects.get(pk="01099").pk, "name": "New", "address": ""},
                                      {"_id": "01099", "name": "New"}),
    ("dk-operator-detail", "GET"): Row(at_least(L.VIEWER), lambda w: "/api/dk/operator/01011", 200, lambda w, b: OPERATOR),
    ("dk-operator-detail", "POST"): Row(admin, lambda w: "/api/dk/operator/01011", 200, lambda w, b: {**OPERATOR, "name": "x"}, {"name": "x"}),
    ("dk-operator-detail", "PATCH"): Row(admin, lambda w: "/api/dk/operator/01011", 200, lambda w, b: {**OPERATOR, "name": "x"}, {"name": "x"}),
    ("dk-number-list", "GET"): Row(at_least(L.VIEWER), lambda w: "/api/dk/number", 200,
                                   lambda w, b: {"offset": 0, "limit": 100, "total": 0, "numbers": []}),
    ("dk-number", "GET"): Row(at_least(L.VIEWER), lambda w: "/api/dk/number/+4570305050", 200,
                              lambda w, b: {"number": "+4570305050", "operator": "01011", "ported": False}),
    ("apikey-list", "GET"): Row(admin, lambda w: "/api/apikey", 200, lambda w, b: [key_body(w.key)]),
    ("apikey-list", "POST"): Row(admin, lambda w: "/api/apikey", 201, created_key, {"name": "kamailio-2"}),
    ("apikey-detail", "GET"): Row(admin, lambda w: f"/api/apikey/{w.key.pk}", 200, lambda w, b: key_body(w.key)),
    ("apikey-detail", "DELETE"): Row(admin, lambda w: f"/api/apikey/{w.key.pk}", 200, revoked_key),
    ("dk-number", "POST"): Row(admin, lambda w: "/api/dk/number/+4570305050?operator=01011", 200,
                               lambda w, b: {"number": "+4570305050", "operator": PortedNumber.objects.get(number="+4570305050").operator_id,
                                             "ported": True}),
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


ENDPOINTS = [(name, method) for name, _route, method in api_endpoints()]


def test_every_endpoint_has_an_access_rule():
    served = set(ENDPOINTS)
    assert served - set(ACCESS) == set(), "endpoints without a row in ACCESS"
    assert set(ACCESS) - served == set(), "rows in ACCESS for endpoints that do not exist"


def expected_refusal(row: Row, caller: Caller, whose: str) -> tuple[int, dict] | None:
    """The exact refusal this caller gets, or None when the call is allowed."""
    if row.public:
        return None
    if caller.level == L.NO_LOGIN:
        return 401, LOGIN
    if row.customer_scoped:
        if whose in REACH[caller.level]:
            allowed = row.who_for(caller, whose) if row.who_for is not None else row.who(caller)
            return None if allowed else (403, DENIED)
        if caller.level == L.PERSONAL and whose == "own":
            return 403, DENIED
        return 404, CUSTOMER_NOT_FOUND
    return None if row.who(caller) else (403, DENIED)


def stored() -> dict[str, set]:
    """Everything a refused call must leave as it was."""
    return {
        "items": set(CallNotify.objects.values_list("pk", "selection")),
        "events": set(CallEvent.objects.values_list("pk", flat=True)),
        "rules": set(Rule.objects.values_list("pk", "note")),
        "peers": set(Peer.objects.values_list("pk", "name")),
        "hosts": set(Peer.objects.values_list("hosts__address", "hosts__down")),
        "operators": set(DkOperator.objects.values_list("pk", "name")),
        "keys": set(ApiKey.objects.values_list("pk", "revoked_at")),
        "ported": set(PortedNumber.objects.values_list("pk", "operator_id")),
        "trunks": set(Trunk.objects.values_list("pk", "max_calls")),
    }


CASES = [
    pytest.param(name, method, caller, whose, id=f"{method} {name} {caller.name} {whose}")
    for name, method in ENDPOINTS
    for caller in CALLERS
    for whose in (RELATIONS if ACCESS.get((name, method), Row(anyone, str, 0, str)).customer_scoped else ["own"])
]


@pytest.mark.parametrize(("name", "method", "caller", "whose"), CASES)
def test_access(api_client, settings, name, method, caller, whose):
    settings.CELERY_BROKER_URL = ""  # call events: deliveries are stored, not sent
    row = ACCESS[(name, method)]
    world = build_world(caller, whose, routing=not row.customer_scoped, trunks=name.startswith("trunk"))
    url = row.url(world)
    body = None if row.body is None else {k: (world.customers["own"].pk if v == "<own>" else v) for k, v in row.body.items()}
    payload = "" if body is None else json.dumps(body)

    def send() -> Any:
        return api_client.generic(method, url, payload, content_type="application/json")

    if row.public:
        anonymous = send()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(world.employee)}")
    before = stored()

    response = send()

    refusal = expected_refusal(row, caller, whose)
    answer = response.json() if response["Content-Type"].startswith("application/json") else None
    if refusal is not None:
        assert (response.status_code, answer) == refusal
        assert stored() == before, "a refused call changed something"
        return
    assert response.status_code == row.ok, answer
    if row.is_json:
        assert answer == row.answer(world, answer)
    else:
        assert response["Content-Type"].startswith(row.content_type)
    if row.public:
        assert (anonymous.status_code, steady(anonymous.json()) if row.is_json else None) == (
            response.status_code, steady(answer)), "a token changes nothing"


def steady(answer: Any) -> Any:
    """An answer without what moves on its own between two requests (the routing index's age:
    0.0 then 0.1 on a slow machine)."""
    return {k: v for k, v in answer.items() if k != "indexAgeSeconds"} if isinstance(answer, dict) else answer


@pytest.mark.parametrize(("name", "method"), [(n, m) for n, m in ENDPOINTS if not ACCESS[(n, m)].public], ids=" ".join)
def test_no_token_is_a_401(api_client, name, method):
    row = ACCESS[(name, method)]
    world = build_world(Caller(L.ADMIN), "own", routing=not row.customer_scoped, trunks=name.startswith("trunk"))
    before = stored()
    response = api_client.generic(method, row.url(world), json.dumps(row.body or {}), content_type="application/json")
    assert (response.status_code, response.json()) == (401, LOGIN)
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert stored() == before


@pytest.mark.parametrize("level", [L.OWNER, L.RESELLER, L.ADMIN])
def test_deleted_customer_is_not_found_for_everyone(client_for, level):
    operator = CustomerFactory(reseller=True)
    deleted = CustomerFactory(parent_reseller=operator, state=Customer.State.DELETED)
    employee = EmployeeFactory(customer=deleted if level == L.OWNER else operator, access_level=level)
    response = client_for(employee).get(f"/api/customer/{deleted.pk}/callnotify")
    if level == L.OWNER:  # its own employees' tokens stop working altogether (docs/api.md §3)
        assert (response.status_code, response.json()) == (401, LOGIN)
    else:
        assert (response.status_code, response.json()) == (404, CUSTOMER_NOT_FOUND)


def test_blocked_customer_keeps_its_call_notify_api(client_for):
    employee = EmployeeFactory(access_level=L.OWNER, customer=CustomerFactory(blocked=True))
    response = client_for(employee).get(f"/api/customer/{employee.customer_id}/callnotify")
    assert (response.status_code, response.json()) == (200, [])


# --- CUSTOMER rules: a RESELLER_ADMIN with FINANCE writes those of the customers it reaches ---

CUSTOMER_RULE_ACTIONS = {  # action: (method, on the rule?, body, status when allowed)
    "create": ("POST", False, {"type": "CUSTOMER", "condition": "<child>", "peer": "TDC"}, 201),
    "update": ("PATCH", True, {"note": "x"}, 200),
    "delete": ("DELETE", True, None, 200),
}


@pytest.mark.parametrize("action", CUSTOMER_RULE_ACTIONS)
@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c.name)
def test_customer_rules(api_client, caller, action):
    method, on_rule, body, ok = CUSTOMER_RULE_ACTIONS[action]
    world = build_world(caller, "own", routing=True)
    own_rule = RuleFactory(type="CUSTOMER", condition=world.customers["own"].pk, peer=world.tdc)
    url = f"/api/sbc/rule/{own_rule.pk}" if on_rule else "/api/sbc/rule"
    payload = {k: (world.customers["child"].pk if v == "<child>" else v) for k, v in body.items()} if body else None
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(world.employee)}")
    before = stored()
    response = api_client.generic(method, url, json.dumps(payload) if payload else "", content_type="application/json")
    refusal = expected_refusal(Row(reseller_admin_with("FINANCE"), str, 0, str), caller, "own")
    if refusal is not None:
        assert (response.status_code, response.json()) == refusal
        assert stored() == before
    elif action == "create":
        rule = Rule.objects.get(type="CUSTOMER", condition=world.customers["child"].pk)
        assert (response.status_code, response.json()) == (ok, rule_body(rule))
    elif action == "update":
        own_rule.refresh_from_db()
        assert (response.status_code, response.json()) == (ok, rule_body(own_rule)) and own_rule.note == "x"
    else:
        assert (response.status_code, response.json()) == (ok, {"success": True})
        assert not Rule.objects.filter(pk=own_rule.pk).exists()


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
