"""A real Kamailio (integrations/kamailio/kamailio.cfg) in front of the real API, with SIP user
agents standing in for the caller and the peers, all on loopback (run by .ci/switch).

    127.0.0.1:24060  Kamailio            127.0.0.1:24080  the API (gunicorn, SQLite)
    127.0.0.2:24062  peer TDC            127.0.0.1:24090  call notify receiver
    127.0.0.3:24062  peer TELENOR        127.0.0.4:24062  a TDC host that is down (nothing there)
    127.0.0.5:24062  a host answering 503
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.switch.harness import Api, Kamailio, Receiver, missing_kamailio
from tests.switch.sipua import Caller, Peer

pytestmark = pytest.mark.switch

SIP = ("127.0.0.1", 24060)
API_PORT, RECEIVER_PORT, FAKE_API_PORT = 24080, 24090, 24091


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("switch")


@pytest.fixture(scope="module")
def api(workdir) -> Iterator[Api]:
    reason = missing_kamailio()
    if reason:
        pytest.skip(reason)
    server = Api(workdir, API_PORT)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver(RECEIVER_PORT)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def world(api, receiver) -> dict:
    """Peers, rules, a customer with a call notify endpoint, and the switch's API key."""
    customer = api.ok("POST", "/api/apikey", {"name": "unused"})  # only to prove the key list works with others in it
    api.ok("DELETE", f"/api/apikey/{customer['_id']}")
    api.ok("POST", "/api/sbc/peer", {"_id": "TELENOR", "hosts": [{"host": "127.0.0.3", "port": 24062}]})
    api.ok("POST", "/api/sbc/peer", {"_id": "TDC", "hosts": [{"host": "127.0.0.2", "port": 24062}]})
    api.ok("POST", "/api/sbc/peer", {
        "_id": "FLAKY", "failoverPeerId": "TELENOR",
        "hosts": [{"host": "127.0.0.4", "port": 24062}, {"host": "127.0.0.5", "port": 24062}],
    })
    rules = {
        "+4570": api.ok("POST", "/api/sbc/rule", {"type": "PREFIX", "condition": "+4570", "peer": "TDC"}),
        "+4520": api.ok("POST", "/api/sbc/rule", {"type": "PREFIX", "condition": "+4520", "peer": "TELENOR"}),
        "+4540": api.ok("POST", "/api/sbc/rule", {"type": "PREFIX", "condition": "+4540", "peer": "FLAKY"}),
    }
    key = api.ok("POST", "/api/apikey", {"name": "kamailio-ci"})
    customer_id = _make_customer(api)
    endpoint = api.ok("POST", f"/api/customer/{customer_id}/callnotify",
                      {"url": f"http://127.0.0.1:{RECEIVER_PORT}/events", "method": "POSTJSON", "selection": "ALL"})
    return {"rules": rules, "key": key, "customer": customer_id, "endpoint": endpoint}


def _make_customer(api: Api) -> str:
    import subprocess

    from tests.switch.harness import PYTHON, ROOT

    code = "import django; django.setup()\nfrom accounts.models import Customer\nprint(Customer.objects.create(name='Hansen ApS').pk)\n"
    done = subprocess.run([PYTHON, "-c", code], cwd=ROOT, env=api.env, check=True, capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def peers() -> Iterator[dict[str, Peer]]:
    found = {
        "TDC": Peer("127.0.0.2", 24062),
        "TELENOR": Peer("127.0.0.3", 24062),
        "UNAVAILABLE": Peer("127.0.0.5", 24062, mode="unavailable"),
    }
    yield found
    for peer in found.values():
        peer.close()


@pytest.fixture(scope="module")
def kamailio(workdir, api, world) -> Iterator[Kamailio]:
    proxy = Kamailio(workdir, "main", {
        "API_URL": f'"http://127.0.0.1:{API_PORT}"', "API_KEY": f'"{world["key"]["key"]}"',
        "PEER_TIMEOUT_MS": "1000", "EVENT_RETRY_SECONDS": "1",
    }, SIP)
    yield proxy
    proxy.stop()


@pytest.fixture
def caller(kamailio) -> Iterator[Caller]:
    ua = Caller("127.0.0.1", SIP)
    yield ua
    ua.close()


def reached(peer: Peer, call_id: str) -> bool:
    return any(m.get("Call-ID") == call_id for m in peer.invites)


def test_calls_reach_the_peer_the_rules_say(caller, peers):
    call = caller.invite("+4570305050")
    assert (call.status, reached(peers["TDC"], call.call_id), reached(peers["TELENOR"], call.call_id)) == (200, True, False)
    invite = next(m for m in peers["TDC"].invites if m.get("Call-ID") == call.call_id)
    assert invite.uri.startswith("sip:+4570305050@")
    assert not invite.get("X-Customer")  # the customer header never leaves towards a peer
    call = caller.invite("4520123456")  # without the +: read as E.164 all the same
    assert (call.status, reached(peers["TELENOR"], call.call_id)) == (200, True)
    assert 180 in call.provisional


def test_a_rule_changed_through_the_api_routes_the_next_calls_within_a_second(api, world, caller, peers):
    rule = world["rules"]["+4570"]
    assert reached(peers["TDC"], caller.invite("+4570111111").call_id)
    api.ok("PATCH", f"/api/sbc/rule/{rule['_id']}", {"peer": "TELENOR"})
    try:
        time.sleep(1.0)
        for _ in range(5):  # every process of the API, whichever answers
            call = caller.invite("+4570111111")
            assert (call.status, reached(peers["TELENOR"], call.call_id)) == (200, True)
    finally:
        api.ok("PATCH", f"/api/sbc/rule/{rule['_id']}", {"peer": "TDC"})


def test_a_host_that_is_down_or_answers_503_fails_over_to_the_next_target(caller, peers):
    # FLAKY: 127.0.0.4 says nothing (timeout: 408), 127.0.0.5 answers 503, then TELENOR (its failover)
    call = caller.invite("+4540000001")
    assert (call.status, reached(peers["UNAVAILABLE"], call.call_id), reached(peers["TELENOR"], call.call_id)) == (200, True, True)


def test_a_host_marked_down_through_the_api_is_not_tried(api, caller, peers):
    api.ok("POST", "/api/sbc/peer/FLAKY/host/127.0.0.4", {"down": True})
    try:
        time.sleep(1.0)
        started = time.monotonic()
        call = caller.invite("+4540000002")
        assert (call.status, reached(peers["UNAVAILABLE"], call.call_id), reached(peers["TELENOR"], call.call_id)) == (200, True, True)
        assert time.monotonic() - started < 1.0, "waited for the host marked down"  # no 1 s timeout on 127.0.0.4
    finally:
        api.ok("POST", "/api/sbc/peer/FLAKY/host/127.0.0.4", {"down": False})


def test_no_route_is_404_no_usable_peer_is_503_and_a_bad_number_484(api, caller):
    assert caller.invite("+4699999999").status == 404  # no rule, no default peer
    api.ok("POST", "/api/sbc/peer", {"_id": "DEAD", "hosts": [{"host": "127.0.0.6", "state": "down"}]})
    api.ok("POST", "/api/sbc/rule", {"type": "PREFIX", "condition": "+4530", "peer": "DEAD"})
    time.sleep(1.0)
    assert caller.invite("+4530000000").status == 503
    assert caller.invite("abc").status == 484


def test_busy_goes_back_to_the_caller_without_failover(caller, peers):
    peers["TDC"].mode = "busy"
    try:
        call = caller.invite("+4570222222")
        assert (call.status, reached(peers["TELENOR"], call.call_id)) == (486, False)
    finally:
        peers["TDC"].mode = "answer"


def test_call_events_of_a_call_reach_the_customers_endpoint(world, caller, receiver):
    call = caller.invite("+4570333333", anumber="+4511111111", customer=world["customer"], hang_up_after=1.1)
    assert call.status == 200
    assert receiver.wait_for(lambda bodies: sum(b.get("callId") == call.call_id for b in bodies) >= 3, timeout=20), receiver.bodies
    events = [b for b in receiver.bodies if b.get("callId") == call.call_id]
    assert [e["state"] for e in events] == ["RINGING", "ANSWERED", "HANGUP"]
    assert {(e["customer"], e["aNumber"], e["bNumber"], e["direction"], e["type"]) for e in events} == {
        (world["customer"], "+4511111111", "+4570333333", "OUTBOUND", "SIP"),
    }
    assert events[2]["cause"] == "NORMAL_CLEARING" and events[2]["duration"] in (1, 2)
    assert [e["sequence"] for e in events] == [1, 2, 3]


def test_a_call_that_fails_reports_its_hangup_with_the_cause(world, caller, receiver, peers):
    peers["TDC"].mode = "busy"
    try:
        call = caller.invite("+4570444444", customer=world["customer"])
    finally:
        peers["TDC"].mode = "answer"
    assert call.status == 486
    assert receiver.wait_for(lambda bodies: any(b.get("callId") == call.call_id for b in bodies), timeout=20)
    [event] = [b for b in receiver.bodies if b.get("callId") == call.call_id]
    assert (event["state"], event["cause"]) == ("HANGUP", "BUSY")


def test_a_revoked_key_refuses_every_call_at_once(api, world, caller):
    key = api.ok("POST", "/api/apikey", {"name": "second", "account": world["key"]["account"]})
    proxy = Kamailio(Path(api.env["TELECOMX_DATA_DIR"]), "revoked", {
        "API_URL": f'"http://127.0.0.1:{API_PORT}"', "API_KEY": f'"{key["key"]}"',
    }, ("127.0.0.1", 24061))
    other = Caller("127.0.0.1", ("127.0.0.1", 24061))
    try:
        assert other.invite("+4570555555").status == 200
        api.ok("DELETE", f"/api/apikey/{key['_id']}")
        assert other.invite("+4570555556").status == 503  # the next call, whichever API process answers
        assert other.invite("+4570555557").status == 503
    finally:
        other.close()
        proxy.stop()


def test_api_unreachable_is_503_fail_closed(workdir):
    proxy = Kamailio(workdir, "noapi", {"API_URL": '"http://127.0.0.1:24099"', "API_KEY": '"txk_x"'}, ("127.0.0.1", 24063))
    caller = Caller("127.0.0.1", ("127.0.0.1", 24063))
    try:
        call = caller.invite("+4570305050")
        assert (call.status, call.reason) == (503, "Routing Unavailable")
        assert call.final is not None and call.final.get("Retry-After") == "5"
    finally:
        caller.close()
        proxy.stop()


def test_a_call_event_post_that_failed_is_retried(workdir, peers):
    """Against a stand-in API whose call event endpoint fails twice (503, then 500) before accepting."""
    answer = {"peer": "TDC", "rule": None, "reason": "default", "chain": ["TDC"],
              "targets": [{"peer": "TDC", "host": "127.0.0.2", "port": 24062, "transport": "udp"}]}
    fake = Receiver(FAKE_API_PORT, script=[503, 500], get_body=answer)
    proxy = Kamailio(workdir, "retry", {
        "API_URL": f'"http://127.0.0.1:{FAKE_API_PORT}"', "API_KEY": '"txk_test"', "EVENT_RETRY_SECONDS": "1",
    }, ("127.0.0.1", 24064))
    caller = Caller("127.0.0.1", ("127.0.0.1", 24064))
    try:
        call = caller.invite("+4570305050", customer="a" * 24, hang_up_after=None)
        assert call.status == 200
        assert fake.wait_for(lambda bodies: len(bodies) >= 2, timeout=20), fake.paths
        states = [b["state"] for b in fake.bodies]
        assert sorted(states) == ["ANSWERED", "RINGING"]  # the first post (RINGING or ANSWERED) came through on retry
        assert fake.paths.count("/api/callevent") == 4  # two refused, then both accepted
        assert all(b["_auth"] == "Bearer txk_test" and b["_type"] == "application/json" for b in fake.bodies)
        assert fake.paths[0].startswith("/api/sbc/route?bnumber=%2B4570305050&anumber=%2B4512345678&customer=aaaa")
    finally:
        caller.close()
        proxy.stop()
        fake.stop()


def test_a_tls_target_the_shipped_file_cannot_send_to_is_skipped(api, caller, peers):
    api.ok("POST", "/api/sbc/peer", {"_id": "TLSFIRST", "hosts": [
        {"host": "127.0.0.6", "port": 24062, "transport": "tls"}, {"host": "127.0.0.2", "port": 24062, "transport": "udp"},
    ]})
    api.ok("POST", "/api/sbc/rule", {"type": "PREFIX", "condition": "+4550", "peer": "TLSFIRST"})
    time.sleep(1.0)
    call = caller.invite("+4550000000")
    assert (call.status, reached(peers["TDC"], call.call_id)) == (200, True)
