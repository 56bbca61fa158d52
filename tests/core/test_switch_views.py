"""The views a switch calls on every call (core/api.py SwitchView) answer exactly as DRF's own
dispatch does: a request accepting JSON plainly takes the switch's way, `Accept: application/*`
(JSON all the same, through DRF's full negotiation) takes DRF's; both must give the same status,
body and headers, for answers and for every refusal."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from accounts.models import AccessLevel, ApiKey
from core.api import SwitchView
from tests.accounts.factories import CustomerFactory, EmployeeFactory
from tests.sbcrules.factories import PeerFactory

pytestmark = pytest.mark.django_db

SWITCH, DRF = "application/json", "application/*"


def answers(client: APIClient, method: str, path: str, body: object = None) -> list[tuple[int, bytes, dict]]:
    """The same request the switch's way, then DRF's: (status, body, headers but the request id)."""
    seen = []
    for accept in (SWITCH, DRF):
        if method == "GET":
            response = client.get(path, HTTP_ACCEPT=accept)
        else:
            response = client.generic(method, path, json.dumps(body), content_type="application/json", HTTP_ACCEPT=accept)
        headers = {k: v for k, v in response.items() if k != "X-Request-ID"}
        seen.append((response.status_code, response.content, headers))
    return seen


def keyed(raw: str | None) -> APIClient:
    client = APIClient()
    if raw is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def switch():
    PeerFactory(id="TDC", default=True)
    creator = EmployeeFactory(customer=CustomerFactory(reseller=True), access_level=AccessLevel.ADMIN)
    return ApiKey.objects.issue(name="kamailio-1", created_by=creator)


@pytest.mark.parametrize("case", ["answer", "bad number", "no credential", "unknown key", "bad header", "not allowed"])
def test_a_route_look_up_answers_alike_both_ways(switch, case):
    key, raw = switch
    path = "/api/sbc/route?bnumber=%2B4570305050"
    client = keyed(raw)
    if case == "bad number":
        path = "/api/sbc/route?bnumber=x"
    elif case == "no credential":
        client = keyed(None)
    elif case == "unknown key":
        client = keyed("txk_" + "x" * 43)
    elif case == "bad header":
        client = APIClient(HTTP_AUTHORIZATION="Token abc")
    elif case == "not allowed":
        client = keyed(raw)
        key.employee.user_permissions.clear()
    quick, full = answers(client, "GET", path)
    assert quick == full
    expected = {"answer": 200, "bad number": 422, "no credential": 401, "unknown key": 401, "bad header": 401, "not allowed": 403}
    assert quick[0] == expected[case]


def test_a_route_look_up_over_the_rate_answers_alike(switch, settings):
    settings.API_RATE_SERVICE = "2/min"
    client = keyed(switch[1])
    quick, full = answers(client, "GET", "/api/sbc/route?bnumber=%2B4570305050")  # the two allowed
    assert quick == full and quick[0] == 200
    quick, full = answers(client, "GET", "/api/sbc/route?bnumber=%2B4570305050")
    assert quick == full and quick[0] == 429 and "Retry-After" in quick[2]


@pytest.mark.parametrize("case", ["accepted", "bad event", "not json"])
def test_a_call_event_post_answers_alike_both_ways(switch, case):
    key, raw = switch
    customer = key.employee.customer_id
    client = keyed(raw)
    body: object = {"callId": "c-1", "type": "SIP", "direction": "INBOUND", "state": "RINGING", "aNumber": "+4570000001",
                    "bNumber": "+4570000002", "timestamp": "2026-12-04T10:00:00Z", "customer": customer}
    if case == "bad event":
        body = {**body, "state": "SINGING"}
    quick_and_full = []
    for accept in (SWITCH, DRF):
        if case == "not json":
            response = client.generic("POST", "/api/callevent", "{", content_type="application/json", HTTP_ACCEPT=accept)
        else:
            # the same event posted again answers the stored one (202 both times)
            response = client.generic("POST", "/api/callevent", json.dumps(body), content_type="application/json",
                                      HTTP_ACCEPT=accept)
        quick_and_full.append((response.status_code, response.content, {k: v for k, v in response.items() if k != "X-Request-ID"}))
    assert quick_and_full[0] == quick_and_full[1]
    assert quick_and_full[0][0] == {"accepted": 202, "bad event": 422, "not json": 400}[case]


def test_other_methods_and_accepts_go_drfs_way():
    from sbcrules.views import RouteView

    from core.negotiation import PLAIN

    assert issubclass(RouteView, SwitchView) and RouteView.switch_methods == ("GET",)
    assert SWITCH in PLAIN and DRF not in PLAIN  # (what decides the way the tests above take)
    client = APIClient()
    response = client.get("/api/sbc/route?bnumber=%2B4570305050", HTTP_ACCEPT="text/html")
    assert response.status_code == 406


def test_a_switchs_requests_leave_nothing_to_the_cycle_collector(switch):
    """The view, DRF's request and its parser context let one another go when the answer is made:
    freed by reference counting, not left to the cycle collector (whose runs the bare view never paid)."""
    import gc

    from django.test import RequestFactory
    from django.urls import resolve

    key, raw = switch
    factory = RequestFactory(HTTP_AUTHORIZATION=f"Bearer {raw}")
    look_up, post = resolve("/api/sbc/route").func, resolve("/api/callevent").func
    event = {"type": "SIP", "direction": "INBOUND", "state": "RINGING", "aNumber": "+4570000001",
             "bNumber": "+4570000002", "timestamp": "2026-12-04T10:00:00Z", "customer": key.employee.customer_id}

    def both(n: int) -> None:
        assert look_up(factory.get("/api/sbc/route?bnumber=%2B4570305050")).status_code == 200
        answer = post(factory.post("/api/callevent", json.dumps({**event, "callId": f"gc-{n}"}), content_type="application/json"))
        assert answer.status_code == 202

    both(0)  # the first: caches, the routing index
    gc.collect()
    gc.disable()
    try:
        for n in range(1, 4):
            both(n)
        assert gc.collect() == 0
    finally:
        gc.enable()
