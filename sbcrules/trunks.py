"""Trunks: who is calling (docs/sbcrules.md, "Trunks"). How a trunk's sources are read, checked
and claimed: one address belongs to at most one trunk, also when two writes race.

A write takes the routing marker's row first (`mark_routing_changed`: the same write that tells
every process to rebuild its index), which serialises trunk writes on both databases — SQLite
takes its write lock, PostgreSQL locks the row until commit — and only then looks for an
overlap among the other trunks' sources (one indexed range query per source) and stores. Two
concurrent creates of overlapping sources: the second waits for the first, then sees its rows
and answers 409.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

SOURCE_INVALID = "Source is invalid"
SOURCE_TAKEN = "Source is used by another trunk"
MAX_SOURCES = 100
MAX_LIMIT = 1_000_000  # maxCalls and callsPerSecond: whole numbers 1..this

# Never a trunk's source: "this network", multicast, the limited broadcast; IPv4-mapped IPv6 is
# written as the IPv4 address it is.
_NEVER = [ipaddress.ip_network(n) for n in ("0.0.0.0/8", "224.0.0.0/4", "255.255.255.255/32", "::/128", "ff00::/8", "::ffff:0:0/96")]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_source(value: Any) -> Network:
    """One source: an IPv4/IPv6 address or a CIDR block without host bits; else ValueError."""
    if not isinstance(value, str) or not value or value.strip() != value or "%" in value:
        raise ValueError(value)
    network = ipaddress.ip_network(value, strict=True)
    if network.prefixlen == 0 or any(network.version == never.version and network.overlaps(never) for never in _NEVER):
        raise ValueError(value)
    return network


# The widest block a reseller may give its customer's trunk (ADMIN: any).
RESELLER_WIDEST = {4: 24, 6: 48}


def sources_narrow(sources: Any) -> bool:
    """Every source is at most a /24 (IPv4) or a /48 (IPv6); malformed ones are the validator's."""
    try:
        return all(parse_source(source).prefixlen >= RESELLER_WIDEST[parse_source(source).version] for source in sources)
    except (TypeError, ValueError):
        return True


def spell(network: Network) -> str:
    """An address as an address (`203.0.113.7`), a block as a block (`198.51.100.0/28`)."""
    return str(network.network_address) if network.prefixlen == network.max_prefixlen else str(network)


def validate_sources(value: Any) -> None:
    """1..100 sources, none overlapping another of the same trunk (a model field validator)."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_SOURCES:
        raise ValidationError(SOURCE_INVALID, code="invalid")
    try:
        networks = [parse_source(item) for item in value]
    except ValueError:
        raise ValidationError(SOURCE_INVALID, code="invalid") from None
    ordered = sorted(networks, key=lambda n: (n.version, int(n.network_address), -n.prefixlen))
    for before, after in zip(ordered, ordered[1:]):
        if before.version == after.version and before.overlaps(after):
            raise ValidationError(SOURCE_INVALID, code="invalid")


def normalize_sources(value: Any) -> Any:
    """The stored spelling of valid sources (anything else is left for the validator to refuse)."""
    try:
        return [spell(parse_source(item)) for item in value]
    except (TypeError, ValueError):
        return value


def bounds(network: Network) -> tuple[int, str, str]:
    """(family, first, last) as the TrunkSource columns hold them: fixed-width hex, so that text
    order is numeric order on every database."""
    return network.version, f"{int(network.network_address):032x}", f"{int(network.broadcast_address):032x}"


class SourceTaken(Exception):
    """A source overlaps one of another trunk (409 `sources`)."""


def taken_by_others(trunk: Any, networks: list[Network], also_exclude: Any = ()) -> bool:
    from sbcrules.models import TrunkSource

    others = TrunkSource.objects.exclude(trunk_id__in=[trunk.pk, *also_exclude])
    for network in networks:
        family, first, last = bounds(network)
        if others.filter(family=family, first__lte=last, last__gte=first).exists():
            return True
    return False


def save_trunk(trunk: Any, *, update_fields: list[str] | None = None, checked: bool = False) -> None:
    """Save `trunk` and claim its sources, serialised with every other trunk write; SourceTaken
    (nothing stored) when another trunk holds one of them. `checked`: the caller holds the lock
    and has checked the sources already, in the transaction it is in (importtrunks)."""
    from sbcrules.index import mark_routing_changed

    networks = [parse_source(source) for source in trunk.sources]
    sources_change = update_fields is None or "sources" in update_fields
    if checked:
        _store(trunk, networks, update_fields, sources_change)
        return
    with transaction.atomic():
        mark_routing_changed()  # first: the lock (and the news for every serving process)
        if sources_change and taken_by_others(trunk, networks):
            raise SourceTaken(SOURCE_TAKEN)
        _store(trunk, networks, update_fields, sources_change)


def _store(trunk: Any, networks: list[Network], update_fields: list[str] | None, sources_change: bool) -> None:
    from sbcrules.models import TrunkSource

    trunk.sources = [spell(n) for n in networks]
    trunk.save(update_fields=update_fields)
    if sources_change:
        TrunkSource.objects.filter(trunk=trunk).delete()
        TrunkSource.objects.bulk_create(
            [TrunkSource(trunk=trunk, network=spell(n), family=f, first=a, last=b) for n in networks for f, a, b in [bounds(n)]]
        )


def delete_trunk(trunk: Any) -> None:
    """Delete `trunk` (its sources go with it), telling every serving process."""
    from sbcrules.index import mark_routing_changed

    with transaction.atomic():
        mark_routing_changed()
        trunk.delete()
