"""The only network code: one attempt over http, https, tcp or udp (docs/callevents.md §3-4, §3).

Before every attempt the host is resolved once and checked by the same policy the API uses
(`addresses.resolve_checked`); a socket only ever connects to exactly that address, so a name
cannot point somewhere else between the check and the connection (DNS rebinding). https
verifies the certificate against the URL's host name while connecting to the checked address.
http(s) connections are kept alive per (origin, checked address) and reused only by attempts
whose own check gave the same address (ConnectionPool).
"""

from __future__ import annotations

import heapq
import http.client
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import lru_cache

from django.conf import settings

from callnotify.addresses import AddressRefused, IPAddress, resolve_checked
from callnotify.formats import Rendered
from callnotify.signing import signature
from callnotify.validators import Target

VERSION = "1.0"
USER_AGENT = f"telecomx-callnotify/{VERSION}"
UDP_MAX_BYTES = 8192
MAX_RESPONSE_BYTES = 64 * 1024  # read (and drop) at most this much of an answer
RETRIED_STATUSES = {408, 429}


@dataclass(frozen=True)
class SendResult:
    delivered: bool
    permanent: bool  # a failure not worth retrying (other 4xx, refused address, too big for UDP)
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds the endpoint asked us to wait (429/503)
    duration_ms: int = 0


class _Timeout(Exception):
    pass


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@lru_cache(maxsize=4)
def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _connect(address: IPAddress, port: int, timeout: float) -> socket.socket:
    return socket.create_connection((str(address), port), timeout=timeout)


def _signing_headers(secret: str, event_id: str, signed: bytes) -> dict[str, str]:
    stamp = int(time.time())
    return {"webhook-id": event_id, "webhook-timestamp": str(stamp), "webhook-signature": signature(secret, event_id, stamp, signed)}


class _Deadlines:
    """One thread per process that cuts connections whose attempt ran past its deadline."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Watchdog]] = []
        self._cond = threading.Condition()
        self._count = 0
        self._pid = 0

    def add(self, watchdog: _Watchdog) -> None:
        with self._cond:
            if self._pid != os.getpid():  # first use, or a forked child: its own thread
                self._pid = os.getpid()
                self._heap = []
                threading.Thread(target=self._loop, name="callnotify-deadlines", daemon=True).start()
            self._count += 1
            heapq.heappush(self._heap, (watchdog.deadline, self._count, watchdog))
            if self._heap[0][2] is watchdog:  # the earliest now: the thread must wake sooner than planned
                self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._cond.wait(None if not self._heap else self._heap[0][0] - time.monotonic())
                _, _, watchdog = heapq.heappop(self._heap)
            watchdog.fire()


_DEADLINES = _Deadlines()


class _Watchdog:
    """Cuts the connection at the deadline. A socket timeout bounds each read, not the whole
    request: an endpoint dripping a byte every few seconds would otherwise hold a sender forever."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def arm(self, sock: socket.socket) -> None:
        sock.settimeout(max(0.001, self.deadline - time.monotonic()))
        self._sock = sock
        _DEADLINES.add(self)

    def fire(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
            if sock is None:
                return
            self.fired = True
        try:
            sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked read at once
        except OSError:
            pass

    def disarm(self) -> None:
        with self._lock:
            self._sock = None


class ConnectionPool:
    """Idle keep-alive HTTP connections of this process, by (protocol, host, port, checked address).

    A connection is only ever opened to an address `resolve_checked` just allowed, and is only
    reused by an attempt whose own check (made before every attempt) gave that same address: a
    name whose answer changed gets a new connection to the new address, and one that now points
    somewhere refused is never contacted, pooled connection or not.
    """

    def __init__(self, per_key: int = 8, idle_seconds: float = 20.0) -> None:
        self.per_key = per_key
        self.idle_seconds = idle_seconds
        self._idle: dict[tuple, list[tuple[http.client.HTTPConnection, float]]] = {}
        self._lock = threading.Lock()

    def take(self, key: tuple) -> http.client.HTTPConnection | None:
        now = time.monotonic()
        with self._lock:
            idle = self._idle.get(key, [])
            while idle:
                conn, since = idle.pop()
                if now - since < self.idle_seconds:
                    return conn
                conn.close()
        return None

    def give(self, key: tuple, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self.per_key:
                idle.append((conn, time.monotonic()))
                return
        conn.close()

    def clear(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn, _ in conns:
                conn.close()


POOL = ConnectionPool()


def _new_connection(target: Target, address: IPAddress, deadline: float) -> http.client.HTTPConnection:
    connect_timeout = min(settings.CALLNOTIFY_CONNECT_TIMEOUT, max(0.001, deadline - time.monotonic()))
    if target.protocol == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            target.host, target.port, timeout=connect_timeout, context=_tls_context(settings.CALLNOTIFY_CA_FILE)
        )
    else:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=connect_timeout)

    # Connect to the checked address, never to a second lookup of the name; http.client still
    # sends the name in Host and (https) uses it for SNI and certificate verification.
    def connect(_address: object, _timeout: object, _source: object) -> socket.socket:
        return _connect(address, target.port, connect_timeout)

    conn._create_connection = connect  # type: ignore[attr-defined]
    conn.connect()
    return conn


class _Stale(Exception):
    """A kept-alive connection the endpoint had closed before our request: nothing was received."""


def _exchange(conn: http.client.HTTPConnection, rendered: Rendered, path: str, headers: dict[str, str],
              deadline: float, reused: bool) -> tuple[int, float | None, bool]:
    """One request on `conn`: (status, retry_after, whether the connection may be kept)."""
    watchdog = _Watchdog(deadline)
    watchdog.arm(conn.sock)
    try:
        try:
            conn.request(rendered.http_method, path, body=rendered.body or None, headers=headers)
            response = conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            if reused and not watchdog.fired:
                raise _Stale from None
            raise
        received = 0
        complete = False
        while True:  # redirects are never followed: the status is the outcome
            chunk = response.read(8192)
            if not chunk:
                complete = True
                break
            received += len(chunk)
            if received > MAX_RESPONSE_BYTES or time.monotonic() > deadline:
                break
        if time.monotonic() > deadline:
            raise _Timeout
        status = response.status
        retry_after = parse_retry_after(response.getheader("Retry-After")) if status in (429, 503) else None
        return status, retry_after, complete and not response.will_close
    except (OSError, http.client.HTTPException):
        if watchdog.fired:
            raise _Timeout from None
        raise
    finally:
        watchdog.disarm()


def _send_http(target: Target, address: IPAddress, rendered: Rendered, headers: dict[str, str], deadline: float) -> SendResult:
    key = (target.protocol, target.host, target.port, str(address), settings.CALLNOTIFY_CA_FILE)
    path = target.path + (f"?{rendered.query}" if rendered.query else "")
    conn = POOL.take(key)
    reused = conn is not None
    keep = False
    try:
        if conn is None:
            conn = _new_connection(target, address, deadline)
        try:
            status, retry_after, keep = _exchange(conn, rendered, path, headers, deadline, reused)
        except _Stale:
            conn.close()
            conn = _new_connection(target, address, deadline)
            status, retry_after, keep = _exchange(conn, rendered, path, headers, deadline, False)
    finally:
        if conn is not None:
            if keep:
                POOL.give(key, conn)
            else:
                conn.close()
    if 200 <= status < 300:
        return SendResult(True, False, status)
    if status in RETRIED_STATUSES or status >= 500:
        return SendResult(False, False, status, f"HTTP {status}", retry_after)
    reason = "redirect not followed" if 300 <= status < 400 else f"HTTP {status}"
    return SendResult(False, True, status, reason)


def _send_tcp(target: Target, address: IPAddress, rendered: Rendered, deadline: float) -> SendResult:
    sock = _connect(address, target.port, min(settings.CALLNOTIFY_CONNECT_TIMEOUT, max(0.001, deadline - time.monotonic())))
    try:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        sock.sendall(rendered.line + b"\n")
        sock.shutdown(socket.SHUT_WR)
    finally:
        sock.close()
    return SendResult(True, False)


def _send_udp(target: Target, address: IPAddress, rendered: Rendered) -> SendResult:
    if len(rendered.line) > UDP_MAX_BYTES:
        return SendResult(False, True, error=f"payload of {len(rendered.line)} bytes is too big for UDP (max {UDP_MAX_BYTES})")
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.sendto(rendered.line, (str(address), target.port))
    return SendResult(True, False)


def send(target: Target, rendered: Rendered, *, event_id: str, secret: str = "", timeout: float | None = None) -> SendResult:
    """One attempt within `timeout` seconds (default CALLNOTIFY_REQUEST_TIMEOUT). Never raises for
    network trouble: the outcome says delivered / retry / permanent."""
    started = time.monotonic()
    deadline = started + (timeout or settings.CALLNOTIFY_REQUEST_TIMEOUT)

    def done(result: SendResult) -> SendResult:
        elapsed = int((time.monotonic() - started) * 1000)
        return SendResult(result.delivered, result.permanent, result.status, result.error, result.retry_after, elapsed)

    try:
        address = resolve_checked(f"[{target.host}]" if ":" in target.host else target.host)
    except AddressRefused as exc:
        return done(SendResult(False, True, error=f"refused: {exc}"))
    try:
        if target.protocol in ("http", "https"):
            headers = {"User-Agent": USER_AGENT}
            if rendered.content_type:
                headers["Content-Type"] = rendered.content_type
            if secret:
                signed = rendered.body if rendered.http_method == "POST" else rendered.query.encode()
                headers.update(_signing_headers(secret, event_id, signed))
            return done(_send_http(target, address, rendered, headers, deadline))
        if target.protocol == "tcp":
            return done(_send_tcp(target, address, rendered, deadline))
        if target.protocol == "udp":
            return done(_send_udp(target, address, rendered))
        return done(SendResult(False, True, error=f"unknown protocol {target.protocol}"))
    except (_Timeout, socket.timeout, TimeoutError):
        return done(SendResult(False, False, error="timeout"))
    except ssl.SSLCertVerificationError as exc:
        return done(SendResult(False, False, error=_short(f"TLS certificate not accepted: {exc.verify_message}")))
    except ConnectionRefusedError:
        return done(SendResult(False, False, error="connection refused"))
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return done(SendResult(False, False, error=_short(f"{type(exc).__name__}: {exc}")))
