"""Which addresses a call notify endpoint may point to: one policy, for save time and send time.

docs/api.md §5 and docs/callevents.md §3. The URL validator uses `check_host` when an item is saved; the
sender uses `resolve_checked` before every attempt and connects to the address it returns.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

INVALID_IP = "URL points to an invalid IP address"
INVALID_HOSTNAME = "URL points to an invalid hostname"

# Shared address space (RFC 6598): operator interconnects; allowed by default (docs/api.md §5).
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
# IPv6 prefixes that carry an IPv4 address inside them: judged by the IPv4 address.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d
IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT
# Global unicast IPv6 is allocated from 2000::/3 only; anything else is reserved, site-local,
# local-use NAT64 (64:ff9b:1::/48, which can reach private IPv4) and the like.
IPV6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
# IETF protocol assignments: anycast relays, not endpoints (Python counts some as global).
IETF_PROTOCOL_ASSIGNMENTS = ipaddress.ip_network("192.0.0.0/24")
# Python (3.11) counts these as global, but they are not anyone's endpoint: the 6to4 relay
# anycast block (RFC 7526) and the IPv6 documentation block of RFC 9637.
NOT_ENDPOINTS = [ipaddress.ip_network("192.88.99.0/24"), ipaddress.ip_network("3fff::/20")]

BLOCKED_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain")
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NUMBER_PART_RE = re.compile(r"^(0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$")


class AddressRefused(Exception):
    """The host may not be contacted; the message is the documented one."""


def parse_ipv4_like(host: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address in any spelling inet_aton accepts (`127.1`, `2130706433`, `0x7f.1`, `0177.0.0.1`).

    None when `host` is not written as numbers at all. Raises AddressRefused for numbers that
    no resolver would take as an address (`256.1.1.1`), since such a host is not a name either.
    """
    parts = host.split(".")
    if not parts or not all(_NUMBER_PART_RE.match(p) for p in parts):
        return None
    if len(parts) > 4:
        raise AddressRefused(INVALID_IP)
    values = []
    for part in parts:
        if part[:2].lower() == "0x":
            values.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part[0] == "0":
            values.append(int(part, 8))
        else:
            values.append(int(part))
    # The last part fills the bytes the earlier ones leave: a.b.c.d, a.b.(16 bits), a.(24 bits), (32 bits).
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        raise AddressRefused(INVALID_IP)
    number = 0
    for value in head:
        number = number * 256 + value
    number = number * 256 ** (4 - len(head)) + last
    return ipaddress.IPv4Address(number)


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a host written as an IP literal stands for, or None for a name."""
    if "%" in host:  # a zone id (`[fe80::1%25eth0]`) names an interface of ours: never an endpoint
        raise AddressRefused(INVALID_IP)
    if host.startswith("[") and host.endswith("]"):
        try:
            return ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise AddressRefused(INVALID_IP) from None
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise AddressRefused(INVALID_IP) from None
    # One trailing dot is the root of DNS, and resolvers read `127.0.0.1.` as the address.
    return parse_ipv4_like(host[:-1] if host.endswith(".") and not host.endswith("..") else host)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address in NAT64 or address in IPV4_TRANSLATED or (address in IPV4_COMPATIBLE and int(address) > 0xFFFF):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in SIX_TO_FOUR:
        return address.sixtofour
    return None


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(cidr, strict=False) for cidr in settings.CALLNOTIFY_ALLOWED_NETWORKS]


def is_allowed_address(address: IPAddress) -> bool:
    """A public unicast address, the shared address space, or one in CALLNOTIFY_ALLOWED_NETWORKS."""
    if any(address in network for network in allowed_networks() if network.version == address.version):
        return True
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            return is_allowed_address(inner)
    if address in SHARED_ADDRESS_SPACE:
        return True
    if isinstance(address, ipaddress.IPv6Address) and address not in IPV6_GLOBAL_UNICAST:
        return False
    if isinstance(address, ipaddress.IPv4Address) and address in IETF_PROTOCOL_ASSIGNMENTS:
        return False
    if any(address in network for network in NOT_ENDPOINTS if network.version == address.version):
        return False
    return address.is_global and not address.is_multicast and not address.is_reserved


def check_hostname_syntax(host: str) -> str:
    """The name in lower-case ASCII (IDNA), or AddressRefused when it is not a usable DNS name."""
    name = host.rstrip(".") if host.endswith(".") and not host.endswith("..") else host
    try:
        name = name.encode("idna").decode("ascii").lower()
    except (UnicodeError, ValueError):
        raise AddressRefused(INVALID_HOSTNAME) from None
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_LABEL_RE.match(label) for label in labels):
        raise AddressRefused(INVALID_HOSTNAME)
    if labels[-1].isdigit():  # a top-level domain is never all digits; `1.2.3.4.5` is no name
        raise AddressRefused(INVALID_HOSTNAME)
    if name == "localhost" or name.endswith(BLOCKED_SUFFIXES):
        raise AddressRefused(INVALID_HOSTNAME)
    return name


Resolver = Callable[[str], list[str]]


def system_resolver(name: str) -> list[str]:
    """Every address the system resolver gives for `name` (IPv4 and IPv6)."""
    infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    return [info[4][0] for info in infos]


_resolver: Resolver = system_resolver


@contextmanager
def use_resolver(resolver: Resolver) -> Iterator[None]:
    """Swap name resolution (tests point names at local or chosen addresses; nothing else does)."""
    global _resolver
    previous, _resolver = _resolver, resolver
    try:
        yield
    finally:
        _resolver = previous


def resolve(name: str) -> list[IPAddress]:
    try:
        found = _resolver(name)
    except (OSError, UnicodeError):
        raise AddressRefused(INVALID_HOSTNAME) from None
    addresses = []
    for text in found:
        try:
            addresses.append(ipaddress.ip_address(text.split("%", 1)[0]))
        except ValueError:
            raise AddressRefused(INVALID_HOSTNAME) from None
    if not addresses:
        raise AddressRefused(INVALID_HOSTNAME)
    return addresses


def check_host(host: str, *, resolve_names: bool | None = None) -> None:
    """Save-time check of a URL's host (docs/api.md §5): raises AddressRefused with the documented message."""
    address = parse_ip_literal(host)
    if address is not None:
        if not is_allowed_address(address):
            raise AddressRefused(INVALID_IP)
        return
    name = check_hostname_syntax(host)
    if resolve_names is None:
        resolve_names = settings.CALLNOTIFY_RESOLVE_HOSTNAMES
    if resolve_names and not all(is_allowed_address(a) for a in resolve(name)):
        raise AddressRefused(INVALID_HOSTNAME)


def resolve_checked(host: str) -> IPAddress:
    """Send-time check (docs/callevents.md §3): resolve once, refuse if ANY address is refused, return one to connect to."""
    address = parse_ip_literal(host)
    if address is not None:
        if not is_allowed_address(address):
            raise AddressRefused(INVALID_IP)
        return address
    addresses = resolve(check_hostname_syntax(host))
    if not all(is_allowed_address(a) for a in addresses):
        raise AddressRefused(INVALID_HOSTNAME)
    return addresses[0]
