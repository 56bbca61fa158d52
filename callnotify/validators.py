"""The call notify URL rule table (docs/api.md §5), as one Django validator used by model, admin and API."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from callnotify.addresses import INVALID_HOSTNAME, INVALID_IP, AddressRefused, check_host

MAX_URL_LENGTH = 2048
PROTOCOLS = ("http", "https", "tcp", "udp")
DEFAULT_PORTS = {"http": 80, "https": 443}

INVALID_URL = "Invalid URL"
INVALID_PROTOCOL = "URL protocol is invalid"
TCP_UDP_HOST_PORT_ONLY = "Protocol types TCP and UDP only permit host and port"
TCP_UDP_NEED_PORT = "Protocol types TCP and UDP requires a valid port"
INVALID_PORT = "Port is invalid"
# Every message a call notify URL can be refused with.
URL_MESSAGES = (INVALID_URL, INVALID_PROTOCOL, TCP_UDP_HOST_PORT_ONLY, TCP_UDP_NEED_PORT, INVALID_PORT, INVALID_IP,
                INVALID_HOSTNAME)


@dataclass(frozen=True)
class Target:
    """What a valid call notify URL points at; the sender builds its requests from this."""

    protocol: str
    host: str  # as written, IPv6 without brackets
    port: int
    path: str
    query: str


def _fail(message: str) -> ValidationError:
    return ValidationError(message, code="invalid")


def _split_host_port(netloc: str) -> tuple[str, str | None]:
    if netloc.startswith("["):
        end = netloc.find("]")
        if end == -1:
            raise _fail(INVALID_URL)
        host, rest = netloc[: end + 1], netloc[end + 1 :]
        if rest and not rest.startswith(":"):
            raise _fail(INVALID_URL)
        return host, (rest[1:] if rest else None)
    host, colon, port = netloc.rpartition(":")
    if not colon:
        return netloc, None
    if ":" in host:  # bare IPv6 without brackets is ambiguous
        raise _fail(INVALID_URL)
    return host, port


def parse_target(url: object) -> Target:
    """Parse and check the syntax of a call notify URL; raises ValidationError with the documented message."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise _fail(INVALID_URL)
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url) or "://" not in url:
        raise _fail(INVALID_URL)
    try:
        parts = urlsplit(url)
    except ValueError:
        raise _fail(INVALID_URL) from None
    protocol = parts.scheme.lower()
    if protocol and protocol not in PROTOCOLS:  # the first thing wrong with `file:///etc/passwd`
        raise _fail(INVALID_PROTOCOL)
    if not protocol or not parts.netloc:
        raise _fail(INVALID_URL)
    if not (parts.path + parts.query + parts.fragment).isascii():
        # Sent as is, `/päth` cannot be encoded into a request line: refused here, once, rather
        # than failing every attempt. Percent-encode it (`/p%C3%A4th`); host names may use IDNA.
        raise _fail(INVALID_URL)
    if "@" in parts.netloc:
        raise _fail(INVALID_URL)
    host, port_text = _split_host_port(parts.netloc)
    if not host or host == "[]":
        raise _fail(INVALID_URL)
    if port_text is not None and not (port_text.isascii() and port_text.isdigit() and 1 <= int(port_text) <= 65535):
        raise _fail(INVALID_PORT)
    if protocol in ("tcp", "udp"):
        if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in url or "#" in url:
            raise _fail(TCP_UDP_HOST_PORT_ONLY)
        if port_text is None:
            raise _fail(TCP_UDP_NEED_PORT)
    port = int(port_text) if port_text is not None else DEFAULT_PORTS[protocol]
    bare_host = host[1:-1] if host.startswith("[") else host
    return Target(protocol, bare_host, port, parts.path or "/", parts.query)


def validate_callnotify_url(url: object) -> None:
    """The whole rule table: syntax, then the address policy (hosts resolved when the setting says so)."""
    target = parse_target(url)
    host = f"[{target.host}]" if ":" in target.host else target.host
    try:
        check_host(host)
    except AddressRefused as exc:
        raise _fail(str(exc)) from None
