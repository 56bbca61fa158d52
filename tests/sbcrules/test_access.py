"""Who may do what with rules, peers, hosts, route look-ups, operators and numbers (docs/api.md §3)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from accounts.models import AccessLevel
from tests.accounts.factories import CustomerFactory, EmployeeFactory
from tests.sbcrules.factories import DkOperatorFactory, NumberRangeFactory, PeerFactory, RuleFactory

pytestmark = pytest.mark.django_db

ROLES = {
    "PERSONAL": (AccessLevel.PERSONAL, []),
    "VIEWER": (AccessLevel.VIEWER, []),
    "MANAGER": (AccessLevel.MANAGER, []),
    "OWNER": (AccessLevel.OWNER, ["FINANCE", "TELE"]),
    "RESELLER": (AccessLevel.RESELLER, ["FINANCE", "TELE"]),
    "RESELLER_ADMIN": (AccessLevel.RESELLER_ADMIN, []),
    "RESELLER_ADMIN+FINANCE": (AccessLevel.RESELLER_ADMIN, ["FINANCE"]),
    "RESELLER_ADMIN+TELE": (AccessLevel.RESELLER_ADMIN, ["TELE"]),
    "ADMIN": (AccessLevel.ADMIN, []),
    "switch": (AccessLevel.VIEWER, []),  # + the sbcrules.lookup_route permission
}
EVERYONE = set(ROLES)
VIEWER_UP = EVERYONE - {"PERSONAL"}
ADMIN = {"ADMIN"}
RULE_READ = {"RESELLER_ADMIN", "RESELLER_ADMIN+FINANCE", "RESELLER_ADMIN+TELE", "ADMIN"}
RULE_WRITE = {"RESELLER_ADMIN+FINANCE", "ADMIN"}
PEER_READ = {"RESELLER_ADMIN+TELE", "ADMIN"}

# action -> (method, path, body, success status, who may)
ACTIONS = {
    "rule list": ("get", "/api/sbc/rule", None, 200, RULE_READ),
    "rule get": ("get", "/api/sbc/rule/{rule}", None, 200, RULE_READ),
    # operator-wide rules (PREFIX here) are ADMIN's; CUSTOMER rules of customers in reach, RULE_WRITE's
    "rule create": ("post", "/api/sbc/rule", {"type": "PREFIX", "condition": "+47", "peer": "TDC"}, 201, ADMIN),
    "rule update (POST)": ("post", "/api/sbc/rule/{rule}", {"note": "x"}, 200, ADMIN),
    "rule update (PATCH)": ("patch", "/api/sbc/rule/{rule}", {"note": "x"}, 200, ADMIN),
    "rule delete": ("delete", "/api/sbc/rule/{rule}", None, 200, ADMIN),
    "customer rule create": ("post", "/api/sbc/rule", {"type": "CUSTOMER", "condition": "{own}", "peer": "TDC"}, 201, RULE_WRITE),
    "customer rule update": ("patch", "/api/sbc/rule/{own_rule}", {"note": "x"}, 200, RULE_WRITE),
    "customer rule delete": ("delete", "/api/sbc/rule/{own_rule}", None, 200, RULE_WRITE),
    "peer list": ("get", "/api/sbc/peer", None, 200, PEER_READ),
    "peer get": ("get", "/api/sbc/peer/TDC", None, 200, PEER_READ),
    "peer create": ("post", "/api/sbc/peer", {"_id": "NEW"}, 201, ADMIN),
    "peer update (POST)": ("post", "/api/sbc/peer/TDC", {"name": "x"}, 200, ADMIN),
    "peer update (PATCH)": ("patch", "/api/sbc/peer/TDC", {"name": "x"}, 200, ADMIN),
    "peer delete": ("delete", "/api/sbc/peer/SPARE", None, 200, ADMIN),
    "host state get": ("get", "/api/sbc/peer/TDC/host/192.0.2.1", None, 200, PEER_READ),
    "host state set": ("post", "/api/sbc/peer/TDC/host/192.0.2.1", {"down": True}, 200, ADMIN),
    "route look-up": ("get", "/api/sbc/route?bnumber=%2B4512345678", None, 200, PEER_READ | {"switch"}),
    "operator list": ("get", "/api/dk/operator", None, 200, VIEWER_UP),
    "operator get": ("get", "/api/dk/operator/01011", None, 200, VIEWER_UP),
    "operator create": ("post", "/api/dk/operator", {"_id": "01099", "name": "New"}, 201, ADMIN),
    "operator update (POST)": ("post", "/api/dk/operator/01011", {"name": "x"}, 200, ADMIN),
    "operator update (PATCH)": ("patch", "/api/dk/operator/01011", {"name": "x"}, 200, ADMIN),
    "number list": ("get", "/api/dk/number", None, 200, VIEWER_UP),
    "number get": ("get", "/api/dk/number/+4570305050", None, 200, VIEWER_UP),
    "number update": ("post", "/api/dk/number/+4570305050?operator=01011", None, 200, ADMIN),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ACTIONS)
def test_access(client_for, action, role):
    method, path, body, success, allowed = ACTIONS[action]
    tdc = PeerFactory(id="TDC", hosts=["192.0.2.1"])
    PeerFactory(id="SPARE")
    rule = RuleFactory(type="PREFIX", condition="+45", peer=tdc)
    NumberRangeFactory(prefix="+4570", operator=DkOperatorFactory(id="01011"))
    access_level, features = ROLES[role]
    employee = EmployeeFactory(access_level=access_level, customer=CustomerFactory(reseller=AccessLevel.rank(access_level) >= AccessLevel.rank(AccessLevel.RESELLER), features=features))
    if role == "switch":
        employee.user_permissions.add(Permission.objects.get(codename="lookup_route"))
    own = CustomerFactory(parent_reseller=employee.customer) if employee.customer.is_reseller else employee.customer
    own_rule = RuleFactory(type="CUSTOMER", condition=employee.customer_id, peer=tdc)
    places = {"rule": rule.id, "own_rule": own_rule.id, "own": own.id}
    body = {k: v.format(**places) if isinstance(v, str) else v for k, v in body.items()} if body else body
    response = getattr(client_for(employee), method)(path.format(**places), body, format="json")
    if role in allowed:
        assert response.status_code == success, response.json()
    else:
        assert response.status_code == 403
        assert response.json() == {"error": {"code": "access_denied", "status": 403, "message": "Insufficient access level"}}


@pytest.mark.parametrize("action", ACTIONS)
def test_no_token_is_a_401(api_client, action):
    method, path, body, *_ = ACTIONS[action]
    response = getattr(api_client, method)(path.format(rule="0" * 24, own_rule="0" * 24, own="x"), body, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "credentials_invalid"
