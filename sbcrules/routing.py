"""The routing engine (docs/api.md §9), pure: rules and peers in, an index out; index and call in,
a decision out. No ORM, no I/O — the one look-up that needs data too big to hold in memory
(which operator serves a ported number) is a function the caller passes in.

The index: hash maps for ANUMBER, CUSTOMER and DKCPS, and for PREFIX one hash map from prefix
to rule probed with the destination's own prefixes, longest first, skipping lengths no rule
has. A number has at most 15 digits, so a look-up costs at most 15 dictionary probes however
many rules there are — the same bound as a digit trie, with less memory and no per-digit
Python loop (a trie of dicts costs ~10x the memory for 200,000 prefixes).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

ANUMBER, CUSTOMER, DKCPS, PREFIX = "ANUMBER", "CUSTOMER", "DKCPS", "PREFIX"


@dataclass(frozen=True, slots=True)
class RuleData:
    id: str
    type: str
    condition: str
    peer: str  # the peer's own id


@dataclass(frozen=True, slots=True)
class PeerData:
    id: str
    up: bool = True
    hosts_down: tuple[bool, ...] = ()  # one entry per host: is it marked down
    failover: str | None = None
    default: bool = False
    # Where to send calls: the hosts not marked down, as {"peer", "host", "port", "transport"}.
    targets: tuple[dict[str, object], ...] = ()

    @property
    def usable(self) -> bool:
        """docs/api.md §9: up, and at least one host not down (no hosts: nowhere to send)."""
        return self.up and not all(self.hosts_down)


@dataclass(frozen=True, slots=True)
class Decision:
    peer: str | None
    rule: RuleData | None
    reason: str  # anumber, customer, dkcps, prefix, default, no_route, no_usable_peer
    operator: str | None = None
    chain: tuple[str, ...] = ()
    why: tuple[str, ...] = field(default=(), compare=False)
    targets: tuple[dict[str, object], ...] = ()
    # A look-up by source: whose call it is, and the trunk it came from.
    customer: str | None = None
    trunk: TrunkData | None = None


# --- trunks: who is calling (docs/sbcrules.md, "Trunks") ---


@dataclass(frozen=True, slots=True)
class TrunkData:
    id: str
    customer: str
    max_calls: int | None = None
    calls_per_second: int | None = None
    trust_customer_header: bool = False
    # Customers a trusted trunk's customer reaches (its X-Customer may name them); None: every
    # customer (the operator's own trunk). Only filled for trusted trunks.
    reach: frozenset[str] | None = frozenset()

    def as_dict(self) -> dict[str, object]:
        return {"_id": self.id, "maxCalls": self.max_calls, "callsPerSecond": self.calls_per_second}


@dataclass(slots=True)
class SourceIndex:
    """Trunk sources by address family: for each prefix length present (longest first), a hash
    map from the network's integer to its trunk. A look-up masks the address once per length
    present and probes: at most 33 probes (IPv4) or 129 (IPv6), however many trunks there are."""

    by_family: dict[int, tuple[tuple[int, dict[int, TrunkData]], ...]] = field(default_factory=dict)
    count: int = 0

    def find(self, address: str) -> TrunkData | None:
        """The trunk holding `address` (IPv4, IPv6, or IPv4-mapped IPv6), or None (also for
        anything that is not an address)."""
        parsed = parse_address(address)
        if parsed is None:
            return None
        family, value = parsed
        bits = 32 if family == 4 else 128
        for length, networks in self.by_family.get(family, ()):
            trunk = networks.get(value >> (bits - length))
            if trunk is not None:
                return trunk
        return None


def parse_address(text: str) -> tuple[int, int] | None:
    """(family, integer) of an IP address; an IPv4-mapped IPv6 address is its IPv4 address. With
    the C library's parser (a tenth of `ipaddress`'s cost: this is on every look-up by source)."""
    try:
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, TypeError, ValueError):
        pass
    try:
        value = int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
    except (OSError, TypeError, ValueError):
        return None
    return (4, value & 0xFFFFFFFF) if value >> 32 == 0xFFFF else (6, value)


def compile_sources(sources: Iterable[tuple[str, TrunkData]]) -> SourceIndex:
    """(CIDR, trunk) pairs in, the index out. Overlaps are the database's to forbid; should two
    equal networks come in anyway, the later wins."""
    tables: dict[int, dict[int, dict[int, TrunkData]]] = {4: {}, 6: {}}
    count = 0
    for cidr, trunk in sources:
        network = ipaddress.ip_network(cidr, strict=False)
        bits = network.max_prefixlen
        tables[network.version].setdefault(network.prefixlen, {})[int(network.network_address) >> (bits - network.prefixlen)] = trunk
        count += 1
    return SourceIndex(
        by_family={family: tuple(sorted(lengths.items(), reverse=True)) for family, lengths in tables.items() if lengths},
        count=count,
    )


@dataclass(slots=True)
class RoutingIndex:
    anumber: dict[str, RuleData]
    customer: dict[str, RuleData]
    dkcps: dict[str, RuleData]
    prefix: dict[str, RuleData]
    prefix_lengths: tuple[int, ...]  # lengths (with the `+`) some PREFIX rule has, longest first
    peers: dict[str, PeerData]  # by lower-case id
    default_peer: str | None
    rule_count: int
    # By lower-case peer id: that peer's usable hosts, then those of the usable peers its
    # failover chain leads to (docs/api.md §9), computed once per index, not per call.
    targets: dict[str, tuple[dict[str, object], ...]] = field(default_factory=dict)
    # The active trunks' sources: who is calling, by the address a call comes from.
    sources: SourceIndex = field(default_factory=SourceIndex)


def compile_index(rules: Iterable[RuleData], peers: Iterable[PeerData], sources: Iterable[tuple[str, TrunkData]] = ()) -> RoutingIndex:
    """Build the index. Later duplicates of one (type, condition) win (the database forbids them)."""
    maps: dict[str, dict[str, RuleData]] = {ANUMBER: {}, CUSTOMER: {}, DKCPS: {}, PREFIX: {}}
    count = 0
    for rule in rules:
        target = maps.get(rule.type)
        if target is not None:
            target[rule.condition.lower() if rule.type == CUSTOMER else rule.condition] = rule
            count += 1
    peer_map = {peer.id.lower(): peer for peer in peers}
    default = next((peer.id for peer in peer_map.values() if peer.default), None)
    lengths = tuple(sorted({len(condition) for condition in maps[PREFIX]}, reverse=True))
    return RoutingIndex(
        anumber=maps[ANUMBER], customer=maps[CUSTOMER], dkcps=maps[DKCPS], prefix=maps[PREFIX],
        prefix_lengths=lengths, peers=peer_map, default_peer=default, rule_count=count,
        targets={key: failover_targets(peer_map, key) for key in peer_map}, sources=compile_sources(sources),
    )


def failover_targets(peers: dict[str, PeerData], start: str) -> tuple[dict[str, object], ...]:
    """The hosts to try in order for a call given to peer `start`: its own usable hosts, then
    each next peer's along `failover` (peers not up give none), until a loop or a dead end."""
    found: list[dict[str, object]] = []
    seen: set[str] = set()
    key: str | None = start
    while key is not None and key not in seen and (peer := peers.get(key)) is not None:
        seen.add(key)
        if peer.up:
            found.extend(peer.targets)
        key = peer.failover.lower() if peer.failover else None
    return tuple(found)


def longest_prefix(index: RoutingIndex, number: str) -> RuleData | None:
    prefix_map = index.prefix
    size = len(number)
    for length in index.prefix_lengths:
        if length <= size:
            rule = prefix_map.get(number[:length])
            if rule is not None:
                return rule
    return None


def walk_failover(index: RoutingIndex, start: str) -> tuple[str | None, tuple[str, ...], str]:
    """(usable peer or None, the chain walked, why it ended)."""
    chain: list[str] = []
    seen: set[str] = set()
    key: str | None = start.lower()
    while key is not None:
        peer = index.peers.get(key)
        if peer is None:
            return None, tuple(chain), f"failover peer {key} does not exist"
        if key in seen:
            return None, tuple(chain), f"failover loop back to {peer.id}"
        seen.add(key)
        chain.append(peer.id)
        if peer.usable:
            return peer.id, tuple(chain), f"{peer.id} is usable"
        if peer.failover is None:
            return None, tuple(chain), f"{peer.id} is unusable ({_unusable(peer)}) and has no failover peer"
        key = peer.failover.lower()
    return None, tuple(chain), "no peer"  # pragma: no cover - the loop always returns


def _unusable(peer: PeerData) -> str:
    if not peer.up:
        return "marked not up"
    return "no hosts" if not peer.hosts_down else "all hosts down"


def decide(
    index: RoutingIndex,
    *,
    bnumber: str,
    anumber: str | None = None,
    customer: str | None = None,
    operator_of: Callable[[str], str | None] | None = None,
    explain: bool = False,
    trunk: TrunkData | None = None,
) -> Decision:
    """The routing decision for one call (docs/api.md §9); the numbers are already valid E.164.

    `operator_of(bnumber)` gives the CPS code of the operator serving the number; it is called
    only when a DKCPS rule could decide (step 3 reached and the index holds DKCPS rules).
    `explain` also fills `why` (for people: the command and the admin; look-ups skip the cost).
    `trunk`: the call came from this trunk; the answer names it and `customer`.
    """
    came = {"customer": customer, "trunk": trunk} if trunk is not None else {}
    why: list[str] = []
    rule: RuleData | None = None
    reason = ""
    operator: str | None = None
    if anumber and (rule := index.anumber.get(anumber)) is not None:
        reason = "anumber"
        if explain:
            why.append(f"ANUMBER rule {rule.id} matches caller {anumber}")
    elif customer and (rule := index.customer.get(customer.lower())) is not None:
        reason = "customer"
        if explain:
            why.append(f"CUSTOMER rule {rule.id} matches customer {customer}")
    else:
        if explain:
            why.append("no ANUMBER or CUSTOMER rule matches")
        if index.dkcps and operator_of is not None:
            operator = operator_of(bnumber)
            rule = index.dkcps.get(operator) if operator else None
            if rule is not None:
                reason = "dkcps"
            if explain:
                why.append(_operator_why(bnumber, operator, rule))
        if rule is None and (rule := longest_prefix(index, bnumber)) is not None:
            reason = "prefix"
            if explain:
                why.append(f"PREFIX rule {rule.id} ({rule.condition}) is the longest prefix of {bnumber}")
    if rule is not None:
        start = rule.peer
    elif index.default_peer is not None:
        start, reason = index.default_peer, "default"
        if explain:
            why.append(f"no rule matches; {start} is the default peer")
    else:
        if explain:
            why.append("no rule matches and there is no default peer")
        return Decision(peer=None, rule=None, reason="no_route", operator=operator, why=tuple(why), **came)
    first = index.peers.get(start.lower())
    if first is not None and first.usable and not explain:  # the usual case
        return Decision(
            peer=first.id, rule=rule, reason=reason, operator=operator, chain=(first.id,),
            targets=index.targets.get(start.lower(), ()), **came,
        )
    peer, chain, ended = walk_failover(index, start)
    if explain:
        why.append(f"failover chain {' → '.join(chain) or start}: {ended}")
    if peer is None:
        reason = "no_usable_peer"
    targets = index.targets.get(peer.lower(), ()) if peer is not None else ()
    return Decision(peer=peer, rule=rule, reason=reason, operator=operator, chain=chain, why=tuple(why), targets=targets, **came)


def _operator_why(bnumber: str, operator: str | None, rule: RuleData | None) -> str:
    if rule is not None:
        return f"{bnumber} is served by operator {operator}; DKCPS rule {rule.id} matches"
    if operator:
        return f"{bnumber} is served by operator {operator}, which has no DKCPS rule"
    return f"no operator known for {bnumber}"
