"""The generated client's scenario: what a customer's and an operator's integration would do.

Run by .ci/client as `scenario.py BASE_URL SEED_JSON` with the generated package
`telecomx_client` on PYTHONPATH. It uses only the generated client (plus the standard library
for a local webhook receiver on 127.0.0.1): if the schema and the server disagree, a call here
raises or answers the wrong type, and CI fails.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from telecomx_client import AuthenticatedClient, Client
from telecomx_client.api.auth import auth_login_create, auth_logout_retrieve, auth_validate_token_retrieve
from telecomx_client.api.callevent import callevent_create
from telecomx_client.api.customer import (customer_callnotify_create, customer_callnotify_deliveries_retrieve,
                                          customer_callnotify_destroy, customer_callnotify_list,
                                          customer_callnotify_partial_update, customer_callnotify_retrieve,
                                          customer_callnotify_test_create, customer_callnotify_update_by_post)
from telecomx_client.api.dk import dk_number_retrieve, dk_operator_create, dk_operator_list
from telecomx_client.api.metrics import metrics_retrieve
from telecomx_client.api.sbc import (sbc_peer_create, sbc_peer_destroy, sbc_peer_host_create, sbc_peer_host_retrieve,
                                     sbc_peer_list, sbc_peer_partial_update, sbc_peer_retrieve, sbc_route_retrieve,
                                     sbc_rule_create, sbc_rule_destroy, sbc_rule_list, sbc_rule_partial_update,
                                     sbc_rule_retrieve)
from telecomx_client.models import (CallDirectionEnum, CallEventAccepted, CallEventRequest, CallNotify,
                                    CallNotifyRequest, CallStateEnum, CallTypeEnum, DeliveryPage, DeliveryStateEnum,
                                    DkOperatorRequest, Error, HostState, HostStateRequest, LoginRequestRequest,
                                    MethodEnum, PatchedCallNotifyRequest, PatchedPeerRequest, PatchedRuleRequest,
                                    Peer, PeerRequest, PeerRequestHostsItem, ReasonEnum, RouteAnswer, Rule,
                                    RuleRequest, RuleTypeEnum, SelectionEnum, Session, Success, TestResult)
from telecomx_client.types import UNSET

BASE, SEED = sys.argv[1], json.load(open(sys.argv[2]))
received: list[tuple[str, bytes, dict[str, str]]] = []
step_no = 0


def step(text: str) -> None:
    global step_no
    step_no += 1
    print(f"  {step_no:2}. {text}", flush=True)


def ok(response, expected_type, status=200):  # type: ignore[no-untyped-def]
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert isinstance(response.parsed, expected_type), (type(response.parsed), response.content[:300])
    return response.parsed


def fails(response, status: int, code: str, message: str | None = None) -> Error:  # type: ignore[no-untyped-def]
    assert response.status_code == status, (response.status_code, response.content[:300])
    error = response.parsed
    assert isinstance(error, Error), (type(error), response.content[:300])
    assert (error.error.status, error.error.code) == (status, code), error.to_dict()
    if message is not None:
        assert error.error.message == message, error.to_dict()
    return error


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        received.append((self.path, body, dict(self.headers)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def login(email: str) -> AuthenticatedClient:
    session = ok(auth_login_create.sync_detailed(
        client=Client(base_url=BASE), body=LoginRequestRequest(username=email, password=SEED["password"])), Session)
    assert session.expires_in_minutes == 15 and session.token
    return AuthenticatedClient(base_url=BASE, token=session.token)


def main() -> None:
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{receiver.server_address[1]}/calls?key=abc"
    customer = SEED["customer"]

    step("login (and a wrong password: 401)")
    fails(auth_login_create.sync_detailed(client=Client(base_url=BASE),
                                          body=LoginRequestRequest(username=SEED["owner"], password="wrong")),
          401, "credentials_invalid", "Wrong username or password")
    owner, admin, personal = login(SEED["owner"]), login(SEED["admin"]), login(SEED["personal"])
    anonymous = AuthenticatedClient(base_url=BASE, token="not-a-token")

    step("typed errors: 401 bad token, 403 level too low, 404 unknown customer")
    assert auth_validate_token_retrieve.sync_detailed(client=Client(base_url=BASE), token="nope").status_code == 401
    fails(customer_callnotify_list.sync_detailed(customer, client=anonymous), 401, "invalid_token")
    fails(customer_callnotify_list.sync_detailed(customer, client=personal), 403, "access_denied", "Insufficient access level")
    fails(customer_callnotify_list.sync_detailed("6b0000000000000000000000", client=owner), 404, "customer", "Customer not found")

    step("call notify: create (generated secret shown once), list, get, update by POST and PATCH")
    created = ok(customer_callnotify_create.sync_detailed(customer, client=owner, body=CallNotifyRequest(
        url=hook_url, method=MethodEnum.POSTJSON, selection=SelectionEnum.ALL, secret="generate")), CallNotify, 201)
    assert isinstance(created.secret, str) and created.secret.startswith("whsec_")
    listed = ok(customer_callnotify_list.sync_detailed(customer, client=owner), list)
    assert [item.field_id for item in listed] == [created.field_id] and listed[0].secret is UNSET
    got = ok(customer_callnotify_retrieve.sync_detailed(customer, created.field_id, client=owner), CallNotify)
    assert got.method == MethodEnum.POSTJSON and got.secret is UNSET
    ok(customer_callnotify_update_by_post.sync_detailed(customer, created.field_id, client=owner,
                                                       body=PatchedCallNotifyRequest(selection=SelectionEnum.SIP)), CallNotify)
    patched = ok(customer_callnotify_partial_update.sync_detailed(customer, created.field_id, client=owner,
                                                                 body=PatchedCallNotifyRequest(selection=SelectionEnum.ALL)), CallNotify)
    assert patched.selection == SelectionEnum.ALL and patched.url == hook_url

    step("call notify errors: 422 url, 422 secret on tcp, several at once (multiple), 404")
    fails(customer_callnotify_create.sync_detailed(customer, client=owner, body=CallNotifyRequest(
        url="ftp://x", method=MethodEnum.GET1, selection=SelectionEnum.ALL)), 422, "url", "URL protocol is invalid")
    fails(customer_callnotify_create.sync_detailed(customer, client=owner, body=CallNotifyRequest(
        url="tcp://127.0.0.1:9", method=MethodEnum.POSTJSON, selection=SelectionEnum.ALL, secret="generate")),
        422, "secret", "Only http and https endpoints can be signed")
    error = fails(customer_callnotify_create.sync_detailed(customer, client=owner, body=CallNotifyRequest(
        url="", method=MethodEnum.GET1, selection=SelectionEnum.ALL, secret="not-a-secret")), 422, "multiple")
    assert [(inner.code, inner.message) for inner in error.error.inner] == [
        ("url", "Invalid URL"), ("secret", "Invalid secret")], error.to_dict()
    fails(customer_callnotify_retrieve.sync_detailed(customer, "6b0000000000000000000000", client=owner),
          404, "not_found", "Call notify not found")

    step("test send: delivered to the local receiver, signed")
    result = ok(customer_callnotify_test_create.sync_detailed(customer, created.field_id, client=owner), TestResult)
    assert result.delivered and result.status == 204 and result.error is None, result.to_dict()
    assert received and received[-1][2].get("webhook-signature", "").startswith("v1,")

    step("call events: posted by the operator, delivered; a second endpoint that never answers stays PENDING")
    dead = ok(customer_callnotify_create.sync_detailed(customer, client=owner, body=CallNotifyRequest(
        url="http://127.0.0.1:9/never", method=MethodEnum.POSTARGS, selection=SelectionEnum.ALL)), CallNotify, 201)
    accepted = ok(callevent_create.sync_detailed(client=admin, body=CallEventRequest(
        call_id="ci-call-1@127.0.0.1", customer=customer, type_=CallTypeEnum.SIP, direction=CallDirectionEnum.INBOUND,
        state=CallStateEnum.RINGING, a_number="+4512345678", b_number="+4570305050",
        timestamp=dt.datetime.now(dt.UTC).replace(microsecond=0))), CallEventAccepted, 202)
    assert accepted.sequence == 1 and accepted.deliveries == 2

    step("delivery log: a full delivery (status, finished) and an empty one (nothing but the next attempt)")
    for _ in range(300):  # delivered within 30 s even on a loaded machine
        page = ok(customer_callnotify_deliveries_retrieve.sync_detailed(customer, created.field_id, client=owner), DeliveryPage)
        if page.deliveries and page.deliveries[0].state == DeliveryStateEnum.DELIVERED:
            break
        time.sleep(0.1)
    full = page.deliveries[0]
    assert (page.total, full.event, full.state, full.last_status) == (1, accepted.field_id, DeliveryStateEnum.DELIVERED, 204)
    assert isinstance(full.finished_at, dt.datetime) and full.next_attempt_at is UNSET and full.last_error is UNSET
    waiting = ok(customer_callnotify_deliveries_retrieve.sync_detailed(customer, dead.field_id, client=owner), DeliveryPage)
    pending = waiting.deliveries[0]
    assert pending.state == DeliveryStateEnum.PENDING and pending.finished_at is UNSET and pending.last_status is UNSET
    empty = ok(customer_callnotify_deliveries_retrieve.sync_detailed(
        customer, created.field_id, client=owner, state=customer_callnotify_deliveries_retrieve.CustomerCallnotifyDeliveriesRetrieveState.FAILED),
        DeliveryPage)
    assert empty.total == 0 and empty.deliveries == []

    step("peers with hosts: create, get, mark a host down, list")
    ok(sbc_peer_create.sync_detailed(client=admin, body=PeerRequest(field_id="TDC", name="TDC A/S", hosts=[
        PeerRequestHostsItem(host="192.0.2.10")])), Peer, 201)
    telia = ok(sbc_peer_create.sync_detailed(client=admin, body=PeerRequest(
        field_id="TELIA", name="Telia", default=True, failover_peer_id="TDC", hosts=[PeerRequestHostsItem(host="192.0.2.20")])), Peer, 201)
    assert telia.failover_peer_id == "TDC" and telia.hosts[0].host == "192.0.2.20"
    state = ok(sbc_peer_host_create.sync_detailed("TELIA", "192.0.2.20", client=admin, body=HostStateRequest(down=True)), HostState)
    assert (state.host, state.down) == ("192.0.2.20", True)
    assert ok(sbc_peer_host_retrieve.sync_detailed("telia", "192.0.2.20", client=admin), HostState).down is True
    ok(sbc_peer_partial_update.sync_detailed("TELIA", client=admin, body=PatchedPeerRequest(name="Telia Danmark")), Peer)
    assert ok(sbc_peer_retrieve.sync_detailed("telia", client=admin), Peer).name == "Telia Danmark"
    assert [p.field_id for p in ok(sbc_peer_list.sync_detailed(client=admin), list)] == ["TDC", "TELIA"]
    fails(sbc_peer_retrieve.sync_detailed("NOPE", client=admin), 404, "id", "Peer not found")

    step("rules: create, 409 duplicate, 422 and 404 errors, get, update, list with paging and ?peer=")
    rules = [ok(sbc_rule_create.sync_detailed(client=admin, body=RuleRequest(
        type_=RuleTypeEnum.PREFIX, condition=f"+45{n}", peer="tdc", note=None)), Rule, 201) for n in range(5)]
    assert rules[0].peer == "TDC" and rules[0].note == ""
    fails(sbc_rule_create.sync_detailed(client=admin, body=RuleRequest(type_=RuleTypeEnum.PREFIX, condition="+450", peer="TDC")),
          409, "rule", "Rule already exists")
    fails(sbc_rule_create.sync_detailed(client=admin, body=RuleRequest(type_=RuleTypeEnum.PREFIX, condition="45", peer="TDC")),
          422, "condition", "Prefix is invalid")
    fails(sbc_rule_create.sync_detailed(client=admin, body=RuleRequest(type_=RuleTypeEnum.PREFIX, condition="+46", peer="NOPE")),
          404, "peer", "Peer not found")
    fails(sbc_rule_list.sync_detailed(client=owner), 403, "access_denied")
    ok(sbc_rule_partial_update.sync_detailed(rules[4].field_id, client=admin, body=PatchedRuleRequest(peer="TELIA", note="moved")), Rule)
    assert ok(sbc_rule_retrieve.sync_detailed(rules[4].field_id, client=admin), Rule).note == "moved"
    page = sbc_rule_list.sync_detailed(client=admin, offset=1, limit=2)
    assert [r.field_id for r in ok(page, list)] == sorted(r.field_id for r in rules)[1:3]
    assert page.headers["x-total-count"] == "5" and 'rel="next"' in page.headers["link"] and 'rel="prev"' in page.headers["link"]
    assert [r.field_id for r in ok(sbc_rule_list.sync_detailed(client=admin, peer="telia"), list)] == [rules[4].field_id]
    ok(sbc_rule_destroy.sync_detailed(rules[3].field_id, client=admin), Success)
    fails(sbc_rule_retrieve.sync_detailed(rules[3].field_id, client=admin), 404, "id", "Rule not found")
    fails(sbc_peer_destroy.sync_detailed("TDC", client=admin), 409, "peer", "Peer is in use")

    step("route look-up: a prefix rule, failover past a down peer, a malformed number")
    route = ok(sbc_route_retrieve.sync_detailed(client=admin, bnumber="+4512345678"), RouteAnswer)
    assert (route.peer, route.reason, route.rule.type_) == ("TDC", ReasonEnum.PREFIX, RuleTypeEnum.PREFIX), route.to_dict()
    moved = ok(sbc_route_retrieve.sync_detailed(client=admin, bnumber="+454999"), RouteAnswer)
    assert (moved.peer, moved.chain) == ("TDC", ["TELIA", "TDC"]), moved.to_dict()
    fails(sbc_route_retrieve.sync_detailed(client=admin, bnumber="12"), 422, "bnumber", "Number is invalid")

    step("DK operators and numbers, metrics")
    fails(dk_operator_create.sync_detailed(client=admin, body=DkOperatorRequest(field_id="101", name="X")),
          422, "id", "5-digit operator code")
    assert [o.field_id for o in ok(dk_operator_list.sync_detailed(client=owner), object).operators] == ["01011"]
    fails(dk_number_retrieve.sync_detailed("+4570305050", client=owner), 404, "number", "Number not found")
    metrics = metrics_retrieve.sync_detailed(client=admin).parsed
    assert metrics.deliveries.by_state.delivered >= 1 and metrics.routing.rules == 4, metrics.to_dict()
    assert metrics.routing.decisions.prefix >= 2 and metrics.routing.decisions.no_route == 0, metrics.to_dict()

    step("delete the endpoint, log out: the token stops working")
    ok(customer_callnotify_destroy.sync_detailed(customer, dead.field_id, client=owner), Success)
    ok(auth_logout_retrieve.sync_detailed(client=owner), Success)
    fails(customer_callnotify_list.sync_detailed(customer, client=owner), 401, "invalid_token")
    receiver.shutdown()


if __name__ == "__main__":
    main()
