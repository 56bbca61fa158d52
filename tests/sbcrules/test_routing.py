"""The pure routing engine (docs/api.md §9): a table of cases and a property test, no database."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sbcrules.routing import PeerData, RoutingIndex, RuleData, compile_index, decide
from sbcrules.serializers import route_answer

CUSTOMER_ID = "65a1b2c3d4e5f60718293a4b"
PORTED = {"+4570305050": "01020", "+4520000001": "01011"}
RANGES = {"+4520": "01011", "+452000": "01030", "+4570": "01011"}


def operator_of(number: str) -> str | None:
    """Ported record first, else the longest range: what sbcrules.lookup.serving_operator does."""
    if number in PORTED:
        return PORTED[number]
    for length in range(len(number), 3, -1):
        if number[:length] in RANGES:
            return RANGES[number[:length]]
    return None


RULES = [
    RuleData("r-anumber", "ANUMBER", "+4512345678", "VIP"),
    RuleData("r-customer", "CUSTOMER", CUSTOMER_ID, "CUST"),
    RuleData("r-dkcps", "DKCPS", "01020", "TELENOR"),
    RuleData("r-dkcps-30", "DKCPS", "01030", "TELIA"),
    RuleData("r-45", "PREFIX", "+45", "TDC"),
    RuleData("r-4570", "PREFIX", "+4570", "TDC70"),
    RuleData("r-457030", "PREFIX", "+457030", "TDC7030"),
    RuleData("r-46", "PREFIX", "+46", "DOWN1"),
    RuleData("r-47", "PREFIX", "+47", "LOOP1"),
    RuleData("r-48", "PREFIX", "+48", "DEADEND"),
    RuleData("r-49", "PREFIX", "+49", "OFF"),
    RuleData("r-1", "PREFIX", "+1", "NOHOSTS"),
]
PEERS = [
    PeerData(name, hosts_down=(False,))
    for name in ("VIP", "CUST", "TELENOR", "TELIA", "TDC", "TDC70", "TDC7030", "DEFAULT", "BACKUP")
] + [
    PeerData("DOWN1", hosts_down=(True, True), failover="down2"),
    PeerData("DOWN2", up=False, hosts_down=(False,), failover="BACKUP"),
    PeerData("LOOP1", hosts_down=(True,), failover="LOOP2"),
    PeerData("LOOP2", up=False, hosts_down=(False,), failover="LOOP1"),
    PeerData("DEADEND", hosts_down=(True,)),
    PeerData("OFF", up=False, hosts_down=(False,), failover="GONE"),
    PeerData("NOHOSTS", hosts_down=(), failover="BACKUP"),
]


@pytest.fixture(scope="module")
def index() -> RoutingIndex:
    return compile_index(RULES, [*PEERS, PeerData("DEFAULT", hosts_down=(False,), default=True)])


@pytest.mark.parametrize(
    ("call", "peer", "rule", "reason", "operator", "chain"),
    [
        # 1. ANUMBER beats everything below it
        ({"bnumber": "+4570305050", "anumber": "+4512345678", "customer": CUSTOMER_ID}, "VIP", "r-anumber", "anumber", None, ["VIP"]),
        # 2. CUSTOMER, any case of the id
        ({"bnumber": "+4570305050", "anumber": "+4599999999", "customer": CUSTOMER_ID.upper()}, "CUST", "r-customer", "customer", None, ["CUST"]),
        # 3. DKCPS: the ported record decides, not the range holder (01011 has no rule)
        ({"bnumber": "+4570305050"}, "TELENOR", "r-dkcps", "dkcps", "01020", ["TELENOR"]),
        # 3. DKCPS: not ported, the longest range's holder (+452000 → 01030, not +4520 → 01011)
        ({"bnumber": "+4520001234"}, "TELIA", "r-dkcps-30", "dkcps", "01030", ["TELIA"]),
        # ported away from the range holder to an operator without a rule: falls to PREFIX
        ({"bnumber": "+4520000001"}, "TDC", "r-45", "prefix", "01011", ["TDC"]),
        # 4. PREFIX: the longest prefix wins
        ({"bnumber": "+4570309999"}, "TDC7030", "r-457030", "prefix", "01011", ["TDC7030"]),
        ({"bnumber": "+4570400000"}, "TDC70", "r-4570", "prefix", "01011", ["TDC70"]),
        ({"bnumber": "+4533333333"}, "TDC", "r-45", "prefix", None, ["TDC"]),
        # 5. default peer
        ({"bnumber": "+3312345678"}, "DEFAULT", None, "default", None, ["DEFAULT"]),
        # failover: all hosts down → DOWN2 (not up) → BACKUP
        ({"bnumber": "+46701234567"}, "BACKUP", "r-46", "prefix", None, ["DOWN1", "DOWN2", "BACKUP"]),
        # a peer without hosts is unusable
        ({"bnumber": "+12125551234"}, "BACKUP", "r-1", "prefix", None, ["NOHOSTS", "BACKUP"]),
        # failover loop
        ({"bnumber": "+4712345678"}, None, "r-47", "no_usable_peer", None, ["LOOP1", "LOOP2"]),
        # dead end: no failover peer
        ({"bnumber": "+4812345678"}, None, "r-48", "no_usable_peer", None, ["DEADEND"]),
        # failover to a peer that no longer exists
        ({"bnumber": "+4912345678"}, None, "r-49", "no_usable_peer", None, ["OFF"]),
    ],
)
def test_decision(index, call, peer, rule, reason, operator, chain):
    decision = decide(index, operator_of=operator_of, **call)
    explained = decide(index, operator_of=operator_of, explain=True, **call)
    assert explained == decision and not decision.why
    assert (decision.peer, decision.rule.id if decision.rule else None, decision.reason, decision.operator, list(decision.chain)) == (
        peer, rule, reason, operator, chain,
    )
    assert explained.why  # the command prints these


def test_no_rule_and_no_default_is_no_route():
    index = compile_index([RuleData("r", "PREFIX", "+45", "TDC")], [PeerData("TDC", hosts_down=(False,))])
    decision = decide(index, bnumber="+4612345678")
    assert route_answer(decision) == {"peer": None, "rule": None, "reason": "no_route", "chain": [], "targets": []}


def test_the_default_peer_also_fails_over():
    index = compile_index([], [PeerData("D", up=False, default=True, failover="B"), PeerData("B", hosts_down=(False,))])
    assert route_answer(decide(index, bnumber="+4612345678")) == {"peer": "B", "rule": None, "reason": "default", "chain": ["D", "B"], "targets": []}


def test_operator_is_not_looked_up_when_no_dkcps_rule_could_use_it():
    calls: list[str] = []
    index = compile_index([RuleData("r", "PREFIX", "+45", "TDC")], [PeerData("TDC", hosts_down=(False,))])
    decision = decide(index, bnumber="+4512345678", operator_of=lambda n: calls.append(n) or "01011")
    assert (decision.reason, decision.operator, calls) == ("prefix", None, [])


def test_wire_form():
    index = compile_index([RuleData("abc", "PREFIX", "+4570", "TDC")], [PeerData("TDC", hosts_down=(False,))])
    assert route_answer(decide(index, bnumber="+4570305050")) == {
        "peer": "TDC", "rule": {"_id": "abc", "type": "PREFIX", "condition": "+4570"}, "reason": "prefix", "chain": ["TDC"],
        "targets": [],
    }


# --- the index agrees with a brute-force scan of all rules -------------------------------------

def scan(rules: list[RuleData], *, bnumber: str, anumber: str | None, customer: str | None, operator: str | None) -> RuleData | None:
    """docs/api.md §9 read literally: look at every rule, in precedence order."""
    for rule_type, wanted in (("ANUMBER", anumber), ("CUSTOMER", customer), ("DKCPS", operator)):
        matches = [r for r in rules if r.type == rule_type and wanted and r.condition.lower() == wanted.lower()]
        if matches:
            return matches[-1]
    prefixes = [r for r in rules if r.type == "PREFIX" and bnumber.startswith(r.condition)]
    return max(prefixes, key=lambda r: len(r.condition), default=None)


digits = st.text("0123456789", min_size=1, max_size=15)
short_digits = st.text("0123", min_size=1, max_size=6)  # few digits: many shared prefixes
numbers = st.builds(lambda d: "+" + d, st.one_of(short_digits, digits))
hexid = st.text("0123456789abcdef", min_size=24, max_size=24)
peer_ids = st.sampled_from(["A", "B", "C"])
rule_strategy = st.one_of(
    st.builds(lambda c, p: ("PREFIX", "+" + c, p), short_digits, peer_ids),
    st.builds(lambda c, p: ("PREFIX", "+" + c, p), digits, peer_ids),
    st.builds(lambda c, p: ("ANUMBER", "+" + c, p), st.text("01", min_size=8, max_size=9), peer_ids),
    st.builds(lambda c, p: ("CUSTOMER", c, p), st.sampled_from(["a" * 24, "b" * 24, "c" * 24]), peer_ids),
    st.builds(lambda c, p: ("DKCPS", c, p), st.sampled_from(["01011", "01020"]), peer_ids),
)


@settings(max_examples=300, deadline=None)
@given(
    raw_rules=st.lists(rule_strategy, max_size=40, unique_by=lambda r: (r[0], r[1])),
    bnumber=numbers,
    anumber=st.one_of(st.none(), st.builds(lambda d: "+" + d, st.text("01", min_size=8, max_size=9))),
    customer=st.one_of(st.none(), st.sampled_from(["a" * 24, "B" * 24, "c" * 24]), hexid),
    operator=st.one_of(st.none(), st.sampled_from(["01011", "01020", "01030"])),
)
def test_index_agrees_with_a_scan_of_every_rule(raw_rules, bnumber, anumber, customer, operator):
    rules = [RuleData(f"r{i}", t, c, p) for i, (t, c, p) in enumerate(raw_rules)]
    peers = [PeerData(p, hosts_down=(False,)) for p in ("A", "B", "C")]
    index = compile_index(rules, peers)
    decision = decide(index, bnumber=bnumber, anumber=anumber, customer=customer, operator_of=lambda n: operator)
    expected = scan(rules, bnumber=bnumber, anumber=anumber, customer=customer, operator=operator)
    assert decision.rule == expected
    assert decision.peer == (expected.peer if expected else None)


def _host(peer: str, host: str, port: int = 5060, transport: str = "udp") -> dict[str, object]:
    return {"peer": peer, "host": host, "port": port, "transport": transport}


def test_targets_are_the_chosen_peers_usable_hosts_then_its_failover_peers():
    a1, a2, c1 = _host("A", "192.0.2.1"), _host("A", "192.0.2.2", 5070, "tcp"), _host("C", "192.0.2.30", 5061, "tls")
    peers = [
        PeerData("A", hosts_down=(False, True, False), failover="B", targets=(a1, a2)),
        PeerData("B", up=False, hosts_down=(False,), failover="C", targets=(_host("B", "192.0.2.20"),)),  # not up: no targets
        PeerData("C", hosts_down=(False,), failover="A", targets=(c1,)),  # loops back to A: stops
        PeerData("D", hosts_down=(True,), failover="c"),
    ]
    index = compile_index([RuleData("r1", "PREFIX", "+45", "A"), RuleData("r2", "PREFIX", "+46", "D")], peers)
    decision = decide(index, bnumber="+4512345678")
    assert (decision.peer, route_answer(decision)["targets"]) == ("A", [a1, a2, c1])
    # the chosen peer is D's failover C: its hosts first, then back round to A's
    decision = decide(index, bnumber="+4612345678")
    assert (decision.peer, decision.chain, list(decision.targets)) == ("C", ("D", "C"), [c1, a1, a2])
    assert decide(index, bnumber="+4612345678", explain=True).targets == decision.targets


def test_no_usable_peer_has_no_targets():
    index = compile_index([RuleData("r", "PREFIX", "+45", "A")], [PeerData("A", hosts_down=(True,), targets=())])
    assert route_answer(decide(index, bnumber="+4512345678"))["targets"] == []
