"""Demo data for `seeddemo`: peers with hosts, DK operators, number data, rules and a trunk. Idempotent."""

from __future__ import annotations

from typing import TextIO

from django.db import transaction

from accounts.models import Customer
from sbcrules.index import mark_routing_changed
from sbcrules.models import DkOperator, Host, NumberRange, Peer, PortedNumber, Rule, Trunk
from sbcrules.trunks import SourceTaken, save_trunk

# Documentation address blocks (RFC 5737): nothing real is ever reached through the demo.
PEERS = [
    # id, name, default, failover, hosts (address, down)
    ("TDC", "TDC NET A/S", True, None, [("192.0.2.10", False), ("192.0.2.11", False)]),
    ("TELENOR", "Telenor Denmark A/S", False, "TDC", [("198.51.100.20", False), ("198.51.100.21", True)]),
    ("TELIA", "Telia Danmark", False, "TDC", [("203.0.113.30", True)]),  # every host down: fails over
]
# Demo CPS codes and names; load the real list with `manage.py importoperators`.
OPERATORS = [("01011", "TDC NET A/S"), ("01020", "Telenor A/S"), ("01030", "Telia Danmark")]
RANGES = [("+4520", "01020"), ("+4530", "01030"), ("+4570", "01011")]
PORTED = [("+4570305050", "01020"), ("+4520123456", "01011")]
RULES = [
    ("PREFIX", "+45", "TDC", "Denmark"),
    ("PREFIX", "+46", "TELIA", "Sweden (Telia down in the demo: fails over to TDC)"),
    ("PREFIX", "+47", "TELENOR", "Norway"),
    ("DKCPS", "01020", "TELENOR", "Numbers Telenor serves, ported ones included"),
]

# A trunk so that a Kamailio on this machine (docs/switch.md) may send the demo's calls from
# 127.0.0.1 as Hansen's PBX: customer name, trunk name, sources, maxCalls, callsPerSecond.
TRUNKS = [("Hansen VVS A/S", "Hansen PBX (a SIP phone on this machine)", ["127.0.0.1", "::1"], 10, 5)]


def seed(stdout: TextIO) -> None:
    created = 0
    with transaction.atomic():
        for operator_id, name in OPERATORS:
            created += DkOperator.objects.get_or_create(id=operator_id, defaults={"name": name})[1]
        for peer_id, name, default, _, hosts in PEERS:
            has_default = Peer.objects.filter(default=True).exclude(id=peer_id).exists()
            peer, made = Peer.objects.get_or_create(id=peer_id, defaults={"name": name, "default": default and not has_default})
            created += made
            for address, down in hosts:
                created += Host.objects.get_or_create(peer=peer, address=address, defaults={"down": down})[1]
        for peer_id, _, _, failover, _ in PEERS:
            if failover:
                Peer.objects.filter(id=peer_id, failover_peer__isnull=True).update(failover_peer_id=failover)
        for prefix, operator_id in RANGES:
            created += NumberRange.objects.get_or_create(prefix=prefix, defaults={"operator_id": operator_id})[1]
        for number, operator_id in PORTED:
            created += PortedNumber.objects.get_or_create(number=number, defaults={"operator_id": operator_id})[1]
        for rule_type, condition, peer_id, note in RULES:
            created += Rule.objects.get_or_create(type=rule_type, condition=condition, defaults={"peer_id": peer_id, "note": note})[1]
        for customer_name, name, sources, max_calls, per_second in TRUNKS:
            customer = Customer.objects.filter(name=customer_name).first()
            if customer is not None and not Trunk.objects.filter(customer=customer, name=name).exists():
                try:
                    save_trunk(Trunk(customer=customer, name=name, sources=sources, max_calls=max_calls, calls_per_second=per_second))
                except SourceTaken:
                    continue  # this machine's addresses belong to another trunk already: leave it so
                created += 1
        if created:
            mark_routing_changed()  # the failover update above bypasses the signals
    stdout.write(f"sbcrules: {created} demo objects created (peers TDC, TELENOR, TELIA; a trunk for 127.0.0.1; "
                 "try `manage.py route +4570305050 --source 127.0.0.1`)\n")
