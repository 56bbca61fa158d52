"""A real Kamailio (integrations/kamailio/kamailio.cfg) in front of the real API, with SIP user
agents standing in for the callers and the peers, all on loopback (run by .ci/switch). Every port
is one the system picked.

    Kamailio             127.0.0.1          the API (gunicorn, SQLite) behind a counting door
    peer TDC             127.0.0.2          call notify receiver (the customers' endpoint)
    peer TELENOR         127.0.0.3          a TDC host that is down (nothing there): 127.0.0.4
    a host answering 503 127.0.0.5

    callers: Hansen's PBX 127.0.0.1 (trunk, untrusted) · Nordic's border element 127.0.0.40/30
    (trusted, X-Customer honoured for its customers) · Lim's PBX 127.0.0.20 (maxCalls 2) ·
    Rapid's PBX 127.0.0.21 (callsPerSecond 3) · strangers 127.0.0.9, 127.0.0.10, 127.0.0.30
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.switch.harness import Api, Door, Kamailio, Receiver, free_port, missing_kamailio
from tests.switch.sipua import Caller, Message, Peer

pytestmark = pytest.mark.switch


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("switch")


@pytest.fixture(scope="module")
def api(workdir) -> Iterator[Api]:
    reason = missing_kamailio()
    if reason:
        pytest.skip(reason)
    server = Api(workdir)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def door(api) -> Iterator[Door]:
    server = Door(api.port)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def peers() -> Iterator[dict[str, Peer]]:
    port = free_port("127.0.0.2")
    found = {
        "TDC": Peer("127.0.0.2", port),
        "TELENOR": Peer("127.0.0.3", port),
        "UNAVAILABLE": Peer("127.0.0.5", port, mode="unavailable"),
    }
    yield found
    for peer in found.values():
        peer.close()


@pytest.fixture(scope="module")
def world(api, receiver, peers) -> dict:
    """Peers, rules, customers with trunks and call notify endpoints, and the switch's API key."""
    port = peers["TDC"].port
    unused = api.ok("POST", "/api/apikey", {"name": "unused"})  # only to prove the key list works with others in it
    api.ok("DELETE", f"/api/apikey/{unused['_id']}")
    api.ok("POST", "/api/sbc/peer", {"_id": "TELENOR", "hosts": [{"host": "127.0.0.3", "port": port}]})
    api.ok("POST", "/api/sbc/peer", {"_id": "TDC", "hosts": [{"host": "127.0.0.2", "port": port}]})
    api.ok("POST", "/api/sbc/peer", {
        "_id": "FLAKY", "failoverPeerId": "TELENOR",
        "hosts": [{"host": "127.0.0.4", "port": free_port("127.0.0.4")}, {"host": "127.0.0.5", "port": port}],
    })
    rules = {
        "+4570": api.ok("POST", "/api/sbc/rule", {"type": "PREFIX", "condition": "+4570", "peer": "TDC"}),
        "+4520": api.ok("POST", "/api/sbc/rule", {"type": "PREFIX", "condition": "+4520", "peer": "TELENOR"}),
        "+4540": api.ok("POST", "/api/sbc/rule", {"type": "PREFIX", "condition": "+4540", "peer": "FLAKY"}),
    }
    key = api.ok("POST", "/api/apikey", {"name": "kamailio-ci"})
    hansen = api.customer("Hansen ApS")
    nordic = api.customer("Nordic Telecom", is_reseller=True)
    nordic_customer = api.customer("Fjord A/S", parent_reseller_id=nordic)
    stranger_customer = api.customer("Elsewhere ApS")
    lim, rapid = api.customer("Lim ApS"), api.customer("Rapid ApS")
    for customer in (hansen, nordic, nordic_customer, stranger_customer, lim, rapid):
        api.ok("POST", f"/api/customer/{customer}/callnotify",
               {"url": f"http://127.0.0.1:{receiver.port}/events", "method": "POSTJSON", "selection": "ALL"})
    # Fjord's own CUSTOMER rule sends its calls to TELENOR: a call that carries Fjord is routed there.
    api.ok("POST", "/api/sbc/rule", {"type": "CUSTOMER", "condition": nordic_customer, "peer": "TELENOR"})
    trunks = {
        "hansen": api.ok("POST", f"/api/customer/{hansen}/trunk", {"name": "Hansen PBX", "sources": ["127.0.0.1"]}),
        "border": api.ok("POST", f"/api/customer/{nordic}/trunk",
                         {"name": "Nordic border", "sources": ["127.0.0.40/30"], "trustCustomerHeader": True}),
        "lim": api.ok("POST", f"/api/customer/{lim}/trunk", {"name": "Lim PBX", "sources": ["127.0.0.20"], "maxCalls": 2}),
        "rapid": api.ok("POST", f"/api/customer/{rapid}/trunk", {"name": "Rapid PBX", "sources": ["127.0.0.21"], "callsPerSecond": 3}),
    }
    return {
        "rules": rules, "key": key, "customer": hansen, "hansen": hansen, "nordic": nordic, "fjord": nordic_customer,
        "elsewhere": stranger_customer, "lim": lim, "rapid": rapid, "trunks": trunks,
    }


@pytest.fixture(scope="module")
def kamailio(workdir, api, door, world) -> Iterator[Kamailio]:
    proxy = Kamailio(workdir, "main", {
        "API_URL": f'"{door.url}"', "API_KEY": f'"{world["key"]["key"]}"',
        "PEER_TIMEOUT_MS": "1000", "EVENT_RETRY_SECONDS": "1",
    })
    yield proxy
    proxy.stop()


def caller_at(kamailio: Kamailio, host: str = "127.0.0.1") -> Caller:
    return Caller(host, kamailio.sip)


@pytest.fixture
def caller(kamailio) -> Iterator[Caller]:
    ua = caller_at(kamailio)
    yield ua
    ua.close()


def reached(peer: Peer, call_id: str) -> bool:
    return any(m.get("Call-ID") == call_id for m in peer.invites)


def events_of(receiver: Receiver, call_id: str) -> list[dict]:
    with receiver.lock:
        return [b for b in receiver.bodies if b.get("callId") == call_id]


def test_calls_reach_the_peer_the_rules_say(caller, peers):
    call = caller.invite("+4570305050")
    assert (call.status, reached(peers["TDC"], call.call_id), reached(peers["TELENOR"], call.call_id)) == (200, True, False)
    invite = next(m for m in peers["TDC"].invites if m.get("Call-ID") == call.call_id)
    assert invite.uri.startswith("sip:+4570305050@")
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
    call = caller.invite("+4570333333", anumber="+4511111111", hang_up_after=1.1)
    assert call.status == 200
    assert receiver.wait_for(lambda bodies: sum(b.get("callId") == call.call_id for b in bodies) >= 3, timeout=20), receiver.bodies
    events = events_of(receiver, call.call_id)
    assert [e["state"] for e in events] == ["RINGING", "ANSWERED", "HANGUP"]
    assert {(e["customer"], e["aNumber"], e["bNumber"], e["direction"], e["type"]) for e in events} == {
        (world["hansen"], "+4511111111", "+4570333333", "OUTBOUND", "SIP"),
    }
    assert events[2]["cause"] == "NORMAL_CLEARING" and events[2]["duration"] in (1, 2)
    assert [e["sequence"] for e in events] == [1, 2, 3]


def test_a_call_that_fails_reports_its_hangup_with_the_cause(world, caller, receiver, peers):
    peers["TDC"].mode = "busy"
    try:
        call = caller.invite("+4570444444")
    finally:
        peers["TDC"].mode = "answer"
    assert call.status == 486
    assert receiver.wait_for(lambda bodies: any(b.get("callId") == call.call_id for b in bodies), timeout=20)
    [event] = events_of(receiver, call.call_id)
    assert (event["state"], event["cause"], event["customer"]) == ("HANGUP", "BUSY", world["hansen"])


def test_a_revoked_key_refuses_every_call_at_once(api, world, workdir):
    key = api.ok("POST", "/api/apikey", {"name": "second", "account": world["key"]["account"]})
    proxy = Kamailio(workdir, "revoked", {"API_URL": f'"http://127.0.0.1:{api.port}"', "API_KEY": f'"{key["key"]}"'})
    other = caller_at(proxy)
    try:
        assert other.invite("+4570555555").status == 200
        api.ok("DELETE", f"/api/apikey/{key['_id']}")
        assert other.invite("+4570555556").status == 503  # the next call, whichever API process answers
        assert other.invite("+4570555557").status == 503
    finally:
        other.close()
        proxy.stop()


def test_api_unreachable_is_503_fail_closed(workdir):
    proxy = Kamailio(workdir, "noapi", {"API_URL": f'"http://127.0.0.1:{free_port()}"', "API_KEY": '"txk_x"'})
    caller = caller_at(proxy)
    try:
        call = caller.invite("+4570305050")
        assert (call.status, call.reason) == (503, "Routing Unavailable")
        assert call.final is not None and call.final.get("Retry-After") == "5"
    finally:
        caller.close()
        proxy.stop()


def test_a_call_event_post_that_failed_is_retried(workdir, peers):
    """Against a stand-in API whose call event endpoint fails twice (503, then 500) before accepting."""
    answer = {"peer": "TDC", "rule": None, "reason": "default", "chain": ["TDC"], "customer": "a" * 24,
              "trunk": {"_id": "b" * 24, "maxCalls": None, "callsPerSecond": None},
              "targets": [{"peer": "TDC", "host": "127.0.0.2", "port": peers["TDC"].port, "transport": "udp"}]}
    fake = Receiver(script=[503, 500], get_body=answer)
    proxy = Kamailio(workdir, "retry", {
        "API_URL": f'"http://127.0.0.1:{fake.port}"', "API_KEY": '"txk_test"', "EVENT_RETRY_SECONDS": "1",
    })
    caller = caller_at(proxy)
    try:
        call = caller.invite("+4570305050", customer="c" * 24, hang_up_after=None)
        assert call.status == 200
        assert fake.wait_for(lambda bodies: len(bodies) >= 2, timeout=20), fake.paths
        assert sorted(b["state"] for b in fake.bodies) == ["ANSWERED", "RINGING"]  # each once, after two refusals
        assert {b["customer"] for b in fake.bodies} == {"a" * 24}  # the answer's customer, not the header's
        assert fake.paths.count("/api/callevent") >= 3  # refused, refused, accepted
        basic = "Basic " + base64.b64encode(b"txk_test:").decode()
        assert all(b["_auth"] == basic and b["_type"] == "application/json" for b in fake.bodies)
        assert fake.paths[0] == f"/api/sbc/route?source=127.0.0.1&bnumber=%2B4570305050&anumber=%2B4512345678&customer={'c' * 24}"
        # The stand-in records a body before it answers; the switch deletes the event once the answer
        # arrives, a moment later.
        deadline = time.monotonic() + 10
        while proxy.pending_events() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proxy.pending_events() == 0
    finally:
        caller.close()
        proxy.stop()
        fake.stop()


def test_a_tls_target_the_shipped_file_cannot_send_to_is_skipped(api, caller, peers):
    api.ok("POST", "/api/sbc/peer", {"_id": "TLSFIRST", "hosts": [
        {"host": "127.0.0.6", "port": 5061, "transport": "tls"}, {"host": "127.0.0.2", "port": peers["TDC"].port, "transport": "udp"},
    ]})
    api.ok("POST", "/api/sbc/rule", {"type": "PREFIX", "condition": "+4550", "peer": "TLSFIRST"})
    time.sleep(1.0)
    call = caller.invite("+4550000000")
    assert (call.status, reached(peers["TDC"], call.call_id)) == (200, True)


# ---- the edge: who is calling (docs/switch.md, "Trunks") ------------------------------------

def test_a_call_from_an_unknown_source_gets_403_and_the_refusal_is_remembered(kamailio, door, peers):
    stranger = caller_at(kamailio, "127.0.0.9")
    try:
        first, second = stranger.invite("+4570305050"), stranger.invite("+4570305051")
        assert (first.status, second.status) == (403, 403)
        assert not reached(peers["TDC"], first.call_id) and not reached(peers["TDC"], second.call_id)
        assert door.count("GET", "/api/sbc/route?source=127.0.0.9&") == 1  # the second was refused from memory
    finally:
        stranger.close()


def test_an_untrusted_trunks_x_customer_is_ignored_and_its_events_go_to_its_own_customer(world, caller, receiver, peers):
    call = caller.invite("+4570666666", customer=world["fjord"], hang_up_after=0.2)
    # Fjord's CUSTOMER rule (TELENOR) did not apply: the call went by its prefix, as Hansen's
    assert (call.status, reached(peers["TDC"], call.call_id), reached(peers["TELENOR"], call.call_id)) == (200, True, False)
    invite = next(m for m in peers["TDC"].invites if m.get("Call-ID") == call.call_id)
    assert not invite.get("X-Customer")  # the header never leaves towards a peer
    assert receiver.wait_for(lambda bodies: sum(b.get("callId") == call.call_id for b in bodies) >= 3, timeout=20)
    assert {e["customer"] for e in events_of(receiver, call.call_id)} == {world["hansen"]}


def test_a_trusted_border_elements_header_is_honoured_for_customers_its_customer_reaches(kamailio, world, receiver, peers):
    border = caller_at(kamailio, "127.0.0.41")  # inside 127.0.0.40/30
    try:
        fjord = border.invite("+4570777777", customer=world["fjord"], hang_up_after=0.2)
        elsewhere = border.invite("+4570777778", customer=world["elsewhere"], hang_up_after=0.2)
        plain = border.invite("+4570777779", hang_up_after=0.2)
    finally:
        border.close()
    assert (fjord.status, reached(peers["TELENOR"], fjord.call_id)) == (200, True)  # Fjord's own CUSTOMER rule
    assert (elsewhere.status, reached(peers["TDC"], elsewhere.call_id)) == (200, True)  # not Nordic's to name
    assert (plain.status, reached(peers["TDC"], plain.call_id)) == (200, True)
    invite = next(m for m in peers["TELENOR"].invites if m.get("Call-ID") == fjord.call_id)
    assert not invite.get("X-Customer")
    calls = (fjord.call_id, elsewhere.call_id, plain.call_id)
    assert receiver.wait_for(lambda bodies: sum(b.get("callId") in calls for b in bodies) >= 9, timeout=20)
    assert {e["customer"] for e in events_of(receiver, fjord.call_id)} == {world["fjord"]}
    assert {e["customer"] for e in events_of(receiver, elsewhere.call_id)} == {world["nordic"]}
    assert {e["customer"] for e in events_of(receiver, plain.call_id)} == {world["nordic"]}


def test_max_calls_plus_one_concurrent_calls_the_last_is_refused(kamailio, peers):
    callers = [caller_at(kamailio, "127.0.0.20") for _ in range(3)]
    results: list = [None] * 3
    start = threading.Barrier(3)

    def place(n: int) -> None:
        start.wait()
        results[n] = callers[n].invite("+4570888880", hang_up_after=None)

    threads = [threading.Thread(target=place, args=(n,)) for n in range(3)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(15)
        assert sorted(r.status for r in results) == [200, 200, 486]  # Lim's trunk: maxCalls 2
        refused = next(r for r in results if r.status == 486)
        assert refused.reason == "Busy Here - Trunk Call Limit" and not reached(peers["TDC"], refused.call_id)
        up = [(n, r) for n, r in enumerate(results) if r.status == 200]
        # while both are up, a fourth is refused too; one hung up frees its place
        assert callers[0].invite("+4570888881", hang_up_after=None).status == 486
        n, call = up[0]
        assert callers[n].hang_up(call).status == 200
        again = callers[n].invite("+4570888882", hang_up_after=None)
        assert again.status == 200
        for n, call in [up[1], (n, again)]:
            assert callers[n].hang_up(call).status == 200
    finally:
        for ua in callers:
            ua.close()


def test_a_burst_above_calls_per_second_is_cut(kamailio, peers):
    callers = [caller_at(kamailio, "127.0.0.21") for _ in range(8)]
    results: list = [None] * 8
    time.sleep(1.02 - time.time() % 1)  # the burst starts just after a second begins
    threads = [threading.Thread(target=lambda n=n: results.__setitem__(n, callers[n].invite(f"+457099000{n}"))) for n in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(15)
    finally:
        for ua in callers:
            ua.close()
    statuses = Counter(r.status for r in results)
    assert statuses == {200: 3, 503: 5}, results  # Rapid's trunk: callsPerSecond 3
    cut = next(r for r in results if r.status == 503)
    assert cut.reason == "Calls Per Second Exceeded" and cut.final.get("Retry-After") == "1"


def test_a_forged_bye_and_a_request_for_an_unknown_dialog_are_refused_and_post_no_event(kamailio, world, caller, receiver, peers):
    call = caller.invite("+4570999999", hang_up_after=None)
    assert call.status == 200
    assert receiver.wait_for(lambda bodies: sum(b.get("callId") == call.call_id for b in bodies) >= 2, timeout=20)
    forger = caller_at(kamailio, "127.0.0.30")
    try:
        # the live call's own Call-ID, tags and route, from someone else's address: 403
        answer = forger.in_dialog("BYE", 2, call)
        assert answer is not None and answer.status == 403
        # a dialog this proxy never made: 404
        fake = Message(call.final.first, [(k, v.replace(call.call_id, "nobody@127.0.0.30")) for k, v in call.final.headers])
        unknown = forger.in_dialog("BYE", 2, type(call)("nobody@127.0.0.30", 200, "OK", [], fake, Message(
            call.invite.first, [(k, v.replace(call.call_id, "nobody@127.0.0.30")) for k, v in call.invite.headers])))
        assert unknown is not None and unknown.status == 404
        # the same from the caller itself, for an unknown dialog: 404 too
        assert caller.in_dialog("INFO", 3, type(call)("nobody@127.0.0.30", 200, "OK", [], fake, Message(
            call.invite.first, [(k, v.replace(call.call_id, "nobody@127.0.0.30")) for k, v in call.invite.headers]))).status == 404
        # a new call reusing the live call's Call-ID from another trunk changes nothing of it
        border = caller_at(kamailio, "127.0.0.42")
        try:
            reuse = border.invite("+4570999998", call_id=call.call_id, hang_up_after=None)
            assert reuse.status == 200
            assert border.hang_up(reuse).status == 200
        finally:
            border.close()
        time.sleep(1.0)
        assert not any(m.get("Call-ID") == call.call_id and "127.0.0.30" in m.get("Via") for m in peers["TDC"].byes)
        # the real BYE ends the call, and its HANGUP is the caller's customer's
        assert caller.hang_up(call).status == 200
    finally:
        forger.close()
    assert receiver.wait_for(
        lambda bodies: sum(b.get("callId") == call.call_id and b.get("customer") == world["hansen"] for b in bodies) >= 3, timeout=20)
    mine = [e for e in events_of(receiver, call.call_id) if e["customer"] == world["hansen"]]
    assert [e["state"] for e in mine] == ["RINGING", "ANSWERED", "HANGUP"]  # one HANGUP, from the real BYE
    assert mine[2]["cause"] == "NORMAL_CLEARING"
    reused = [e["state"] for e in events_of(receiver, call.call_id) if e["customer"] == world["nordic"]]
    assert reused == ["RINGING", "ANSWERED", "HANGUP"]  # the other call is another call, of its own customer


def test_the_called_party_hanging_up_reaches_the_caller_and_posts_the_hangup(world, caller, receiver, peers):
    call = caller.invite("+4570121212", hang_up_after=None)
    assert call.status == 200
    peers["TDC"].hang_up(call.call_id)  # from the peer host that answered: a known end of the dialog
    bye = caller.answer_request(call.call_id, "BYE")
    assert bye is not None and not bye.get("X-Customer")
    assert receiver.wait_for(lambda bodies: any(b.get("callId") == call.call_id and b["state"] == "HANGUP" for b in bodies), timeout=20)
    [hangup] = [e for e in events_of(receiver, call.call_id) if e["state"] == "HANGUP"]
    assert (hangup["customer"], hangup["cause"]) == (world["hansen"], "NORMAL_CLEARING")


def test_a_flood_from_a_stranger_is_dropped_before_any_look_up(workdir, api, world):
    door = Door(api.port)
    proxy = Kamailio(workdir, "flood", {"API_URL": f'"{door.url}"', "API_KEY": f'"{world["key"]["key"]}"'})
    flood = caller_at(proxy, "127.0.0.10")
    try:
        for n in range(200):  # as fast as the socket takes them, without waiting for answers
            invite = Message(f"INVITE sip:+4570{n:06d}@{proxy.sip[0]} SIP/2.0", [
                ("Via", f"SIP/2.0/UDP 127.0.0.10:{flood.port};branch=z9hG4bK{secrets.token_hex(8)}"),
                ("Max-Forwards", "70"), ("From", f"<sip:+4511@127.0.0.10>;tag={n}"), ("To", f"<sip:+4570{n:06d}@127.0.0.1>"),
                ("Call-ID", f"flood-{n}@127.0.0.10"), ("CSeq", "1 INVITE"),
            ])
            flood.sock.sendto(invite.encode(), proxy.sip)
        answered = Counter()
        flood.sock.settimeout(1.0)
        try:
            while True:
                message = Message.parse(flood.sock.recvfrom(65535)[0])
                if message.status >= 200:
                    answered[message.status] += 1
        except TimeoutError:
            pass
        # at most one look-up per SIP worker (4: the first INVITEs arrive together); every later
        # refusal came from memory
        assert 1 <= door.count("GET", "/api/sbc/route") <= 4
        assert set(answered) == {403} and answered[403] < 100, answered  # past the flood limit: no answer at all
    finally:
        flood.close()
        proxy.stop()
        door.stop()


def test_a_look_up_rides_a_kept_alive_connection(kamailio, door, caller):
    before_connections, before_lookups = door.connections, door.count("GET", "/api/sbc/route")
    for n in range(20):
        assert caller.invite(f"+45701000{n:02d}", hang_up_after=None).status == 200
    assert door.count("GET", "/api/sbc/route") - before_lookups == 20
    # at most one new connection per SIP worker (4) and the event poster, however many calls
    assert door.connections - before_connections <= 5


def test_call_events_survive_an_api_outage_and_kill_9_and_arrive_once_in_order_in_batches(workdir, api, door, world, receiver, peers):
    proxy = Kamailio(workdir, "durable", {
        "API_URL": f'"{door.url}"', "API_KEY": f'"{world["key"]["key"]}"', "EVENT_RETRY_SECONDS": "1",
    })
    ua = caller_at(proxy)
    door.events_down = True
    try:
        calls = [ua.invite(f"+45702000{n:02d}", anumber="+4512121212") for n in range(50)]
        assert [c.status for c in calls] == [200] * 50
        deadline = time.monotonic() + 10
        while proxy.pending_events() < 150 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proxy.pending_events() == 150  # all kept on disk while the API refuses them
        refused = door.count("POST", "/api/callevent", 503)
        assert refused >= 1
        proxy.kill()
        door.events_down = False
        accepted_before = door.count("POST", "/api/callevent", 202)
        proxy.start()
        ids = {c.call_id for c in calls}
        assert receiver.wait_for(lambda bodies: sum(b.get("callId") in ids for b in bodies) >= 150, timeout=40)
        time.sleep(2.0)  # nothing more comes
        events = [b for b in receiver.bodies if b.get("callId") in ids]
        assert len(events) == 150 and len({(e["callId"], e["state"]) for e in events}) == 150  # each once
        for call_id in ids:
            mine = [e for e in events if e["callId"] == call_id]
            assert [(e["state"], e["sequence"]) for e in mine] == [("RINGING", 1), ("ANSWERED", 2), ("HANGUP", 3)]
            assert {e["customer"] for e in mine} == {world["hansen"]}
        assert door.count("POST", "/api/callevent", 202) - accepted_before == 2  # 100 + 50
        assert proxy.pending_events() == 0
    finally:
        door.events_down = False
        ua.close()
        proxy.stop()
