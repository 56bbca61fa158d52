"""Access matrix for call notify (docs/api.md §3): every level × whose customer × every action."""

from __future__ import annotations

import pytest

from accounts.models import AccessLevel, Customer
from callnotify.models import CallNotify
from tests.accounts.factories import CustomerFactory, EmployeeFactory
from tests.callnotify.factories import CallNotifyFactory

pytestmark = pytest.mark.django_db

CUSTOMER_NOT_FOUND = {"error": {"code": "customer", "status": 404, "message": "Customer not found"}}
FORBIDDEN = {"error": {"code": "access_denied", "status": 403, "message": "Insufficient access level"}}
LOGIN = {"error": {"code": "credentials_invalid", "status": 401, "message": "Authorization required, please login"}}
BODY = {"url": "http://100.64.1.1:4000/call", "method": "POSTJSON", "selection": "ALL"}

RELATIONS = ["own", "child", "grandchild", "unrelated", "missing"]
ACTIONS = {  # action: (HTTP verb, on an item?, status when allowed)
    "list": ("get", False, 200),
    "create": ("post", False, 201),
    "get": ("get", True, 200),
    "update_post": ("post", True, 200),
    "update_patch": ("patch", True, 200),
    "delete": ("delete", True, 200),
}
REACH = {  # level: relations it may act on
    AccessLevel.PERSONAL: set(),
    AccessLevel.VIEWER: {"own"},
    AccessLevel.MANAGER: {"own"},
    AccessLevel.OWNER: {"own"},
    AccessLevel.RESELLER: {"own", "child", "grandchild"},
    AccessLevel.RESELLER_ADMIN: {"own", "child", "grandchild"},
    AccessLevel.ADMIN: {"own", "child", "grandchild", "unrelated"},
}


def expected(level: str, relation: str) -> tuple[int, dict | None]:
    if level == AccessLevel.NO_LOGIN:
        return 401, LOGIN
    if relation in REACH[level]:
        return 0, None
    if level == AccessLevel.PERSONAL and relation == "own":
        return 403, FORBIDDEN
    return 404, CUSTOMER_NOT_FOUND


@pytest.fixture
def tree():
    """operator › reseller (the employee's customer) › [child, sub-reseller › grandchild]; unrelated."""
    operator = CustomerFactory(reseller=True)
    reseller = CustomerFactory(reseller=True, parent_reseller=operator)
    sub = CustomerFactory(reseller=True, parent_reseller=reseller)
    return {
        "own": reseller,
        "child": CustomerFactory(parent_reseller=reseller),
        "grandchild": CustomerFactory(parent_reseller=sub),
        "unrelated": CustomerFactory(parent_reseller=CustomerFactory(reseller=True)),
    }


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("relation", RELATIONS)
@pytest.mark.parametrize("level", AccessLevel.values)
def test_call_notify_access(tree, client_for, level, relation, action):
    employee = EmployeeFactory(customer=tree["own"], access_level=level)
    customer_id = tree[relation].pk if relation != "missing" else "f" * 24
    item = CallNotifyFactory(customer=tree[relation]) if relation != "missing" else None
    verb, on_item, ok_status = ACTIONS[action]
    url = f"/api/customer/{customer_id}/callnotify"
    if on_item:
        url += f"/{item.pk if item else 'e' * 24}"
    before = set(CallNotify.objects.values_list("pk", "method"))

    response = getattr(client_for(employee), verb)(url, BODY if verb in ("post", "patch") else None, format="json")

    status, body = expected(level, relation)
    if status == 0:
        assert response.status_code == ok_status, response.json()
        if action == "delete":
            assert not CallNotify.objects.filter(pk=item.pk).exists()
    else:
        assert (response.status_code, response.json()) == (status, body)
        assert set(CallNotify.objects.values_list("pk", "method")) == before  # nothing changed


@pytest.mark.parametrize("level", [AccessLevel.OWNER, AccessLevel.RESELLER, AccessLevel.ADMIN])
def test_deleted_customer_is_not_found_for_everyone(client_for, level):
    operator = CustomerFactory(reseller=True)
    gone = CustomerFactory(parent_reseller=operator, state=Customer.State.DELETED)
    employee = EmployeeFactory(customer=gone if level == AccessLevel.OWNER else operator, access_level=level)
    response = client_for(employee).get(f"/api/customer/{gone.pk}/callnotify")
    if level == AccessLevel.OWNER:  # its own employees' tokens stop working altogether (docs/api.md §3)
        assert (response.status_code, response.json()) == (401, LOGIN)
    else:
        assert (response.status_code, response.json()) == (404, CUSTOMER_NOT_FOUND)


def test_blocked_customer_keeps_its_call_notify_api(client_for):
    employee = EmployeeFactory(access_level=AccessLevel.OWNER, customer=CustomerFactory(blocked=True))
    assert client_for(employee).get(f"/api/customer/{employee.customer_id}/callnotify").status_code == 200
