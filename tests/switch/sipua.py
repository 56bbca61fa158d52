"""Tiny SIP user agents over UDP for the switch tests and bench/switch.py: a caller placing calls
and peers answering them. Only what those need (RFC 3261 over UDP, one socket each, no SDP
negotiation, no retransmissions: loopback does not lose datagrams).
"""

from __future__ import annotations

import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field

CRLF = "\r\n"


@dataclass
class Message:
    first: str
    headers: list[tuple[str, str]]
    body: str = ""

    @property
    def is_request(self) -> bool:
        return not self.first.startswith("SIP/2.0")

    @property
    def method(self) -> str:
        return self.first.split(" ", 1)[0] if self.is_request else self.get("CSeq").split()[1]

    @property
    def status(self) -> int:
        return int(self.first.split()[1]) if not self.is_request else 0

    @property
    def uri(self) -> str:
        return self.first.split()[1]

    def get(self, name: str, default: str = "") -> str:
        return next((v for k, v in self.headers if k.lower() == name.lower()), default)

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def encode(self) -> bytes:
        headers = [h for h in self.headers if h[0].lower() != "content-length"]
        lines = [self.first, *(f"{k}: {v}" for k, v in headers), f"Content-Length: {len(self.body.encode())}", "", self.body]
        return CRLF.join(lines).encode()

    @classmethod
    def parse(cls, data: bytes) -> "Message":
        head, _, body = data.decode(errors="replace").partition(CRLF + CRLF)
        first, *lines = head.split(CRLF)
        headers = []
        for line in lines:
            if ":" in line:
                key, value = line.split(":", 1)
                headers.append((key.strip(), value.strip()))
        return cls(first, headers, body)


def reply_to(request: Message, status: int, reason: str, *, to_tag: str | None = None, extra: list[tuple[str, str]] = ()) -> Message:
    headers = []
    for key, value in request.headers:
        if key.lower() in ("via", "from", "call-id", "cseq", "record-route"):
            headers.append((key, value))
        elif key.lower() == "to":
            headers.append((key, value if to_tag is None or ";tag=" in value else f"{value};tag={to_tag}"))
    return Message(f"SIP/2.0 {status} {reason}", [*headers, *extra])


def _uri_address(uri: str) -> tuple[str, int]:
    match = re.search(r"sip:(?:[^@;>]+@)?([0-9.]+)(?::(\d+))?", uri)
    assert match, uri
    return match.group(1), int(match.group(2) or 5060)


@dataclass
class Peer:
    """A carrier's SIP server on `host`:`port` (0: a port the system picks). `mode`: answer (180,
    then 200 after `ring_seconds`), quick (200 at once, no 180), busy (486),
    unavailable (503), silent (says nothing: a host that is down)."""

    host: str
    port: int = 0
    mode: str = "answer"
    ring_seconds: float = 0.05
    invites: list[Message] = field(default_factory=list)
    byes: list[Message] = field(default_factory=list)
    requests: list[Message] = field(default_factory=list)  # in-dialog requests but ACK

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.host, self.port))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.2)
        self.call_ids: set[tuple[str, str]] = set()
        self.to_tags: dict[str, str] = {}  # Call-ID -> the tag this peer answered with
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, source = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            message = Message.parse(data)
            if not message.is_request:
                continue
            if message.method == "INVITE":
                call = (message.get("Call-ID"), message.get("From"))  # a reused Call-ID is another call
                if call in self.call_ids:
                    continue  # a retransmission
                self.call_ids.add(call)
                self.invites.append(message)
                self._answer_invite(message, source)
            elif message.method == "BYE":
                self.byes.append(message)
                self.requests.append(message)
                self.sock.sendto(reply_to(message, 200, "OK").encode(), source)
            elif message.method == "CANCEL":
                self.sock.sendto(reply_to(message, 200, "OK").encode(), source)
            elif message.method != "ACK":
                self.requests.append(message)
                self.sock.sendto(reply_to(message, 200, "OK").encode(), source)

    def hang_up(self, call_id: str) -> None:
        """The called party hangs up: BYE towards the caller along the proxy's Record-Route."""
        invite = next(m for m in self.invites if m.get("Call-ID") == call_id)
        routes = [r.strip() for value in invite.all("Record-Route") for r in value.split(",")]
        target = invite.get("Contact").strip("<>").split(">")[0]
        headers = [
            ("Via", f"SIP/2.0/UDP {self.host}:{self.port};branch=z9hG4bK{secrets.token_hex(8)};rport"),
            ("Max-Forwards", "70"),
            ("From", f"{invite.get('To')};tag={self.to_tags[call_id]}"), ("To", invite.get("From")), ("Call-ID", call_id),
            ("CSeq", "1 BYE"), *(("Route", r) for r in routes),
        ]
        self.sock.sendto(Message(f"BYE {target} SIP/2.0", headers).encode(), _uri_address(routes[0]))

    def _answer_invite(self, invite: Message, source: tuple[str, int]) -> None:
        tag = secrets.token_hex(4)
        self.to_tags[invite.get("Call-ID")] = tag
        if self.mode == "silent":
            return
        if self.mode == "busy":
            self.sock.sendto(reply_to(invite, 486, "Busy Here", to_tag=tag).encode(), source)
        elif self.mode == "unavailable":
            self.sock.sendto(reply_to(invite, 503, "Service Unavailable", to_tag=tag).encode(), source)
        else:
            contact = [("Contact", f"<sip:peer@{self.host}:{self.port}>")]
            if self.mode == "answer":
                self.sock.sendto(reply_to(invite, 180, "Ringing", to_tag=tag).encode(), source)
                time.sleep(self.ring_seconds)  # someone picks up (not in the same instant as the ringing)
            self.sock.sendto(reply_to(invite, 200, "OK", to_tag=tag, extra=contact).encode(), source)


@dataclass
class CallResult:
    call_id: str
    status: int
    reason: str
    provisional: list[int]
    final: Message | None
    invite: Message | None = None


class Caller:
    """Places calls through the proxy at `proxy` from its own socket on `host` (port 0: any)."""

    def __init__(self, host: str, proxy: tuple[str, int], port: int = 0) -> None:
        self.proxy = proxy
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.host, self.port = self.sock.getsockname()

    def close(self) -> None:
        self.sock.close()

    def invite(self, bnumber: str, *, anumber: str = "+4512345678", customer: str | None = None,
               timeout: float = 10, hang_up_after: float | None = 0.0, call_id: str | None = None) -> CallResult:
        """One call: INVITE, wait for the final answer, ACK it; answered: BYE after `hang_up_after`
        seconds (None: leave it up, `hang_up` ends it)."""
        call_id = call_id or f"{secrets.token_hex(8)}@{self.host}"
        branch = "z9hG4bK" + secrets.token_hex(8)
        from_tag = secrets.token_hex(4)
        headers = [
            ("Via", f"SIP/2.0/UDP {self.host}:{self.port};branch={branch};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{anumber}@{self.host}>;tag={from_tag}"),
            ("To", f"<sip:{bnumber}@{self.proxy[0]}>"),
            ("Call-ID", call_id),
            ("CSeq", "1 INVITE"),
            ("Contact", f"<sip:caller@{self.host}:{self.port}>"),
        ]
        if customer:
            headers.append(("X-Customer", customer))
        invite = Message(f"INVITE sip:{bnumber}@{self.proxy[0]}:{self.proxy[1]} SIP/2.0", headers)
        self.sock.sendto(invite.encode(), self.proxy)
        provisional: list[int] = []
        deadline = time.monotonic() + timeout
        final = None
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data, _ = self.sock.recvfrom(65535)
            except TimeoutError:
                break
            message = Message.parse(data)
            if message.is_request or message.get("Call-ID") != call_id or message.method != "INVITE":
                continue
            if message.status < 200:
                provisional.append(message.status)
                continue
            final = message
            break
        if final is None:
            return CallResult(call_id, 0, "no final answer", provisional, None, invite)
        if final.status >= 300:  # hop-by-hop ACK, same branch, to the proxy
            ack = Message(f"ACK {invite.uri} SIP/2.0", [
                ("Via", headers[0][1]), ("Max-Forwards", "70"), ("From", headers[2][1]), ("To", final.get("To")),
                ("Call-ID", call_id), ("CSeq", "1 ACK"),
            ])
            self.sock.sendto(ack.encode(), self.proxy)
        else:
            self._in_dialog("ACK", 1, invite, final)
            if hang_up_after is not None:
                time.sleep(hang_up_after)
                self._in_dialog("BYE", 2, invite, final)
                self._wait_for(call_id, "BYE", time.monotonic() + timeout)
        return CallResult(call_id, final.status, final.first.split(" ", 2)[2], provisional, final, invite)

    def hang_up(self, call: CallResult, timeout: float = 10) -> Message | None:
        """BYE for a call left up: the answer to it (None: no answer)."""
        return self.in_dialog("BYE", 2, call, timeout=timeout)

    def in_dialog(self, method: str, cseq: int, call: CallResult, timeout: float = 5) -> Message | None:
        """An in-dialog request of `call` (which may be another user agent's call: a forgery),
        sent from this user agent's socket; the final answer to it (None: no answer)."""
        assert call.invite is not None and call.final is not None
        self._in_dialog(method, cseq, call.invite, call.final)
        return self._wait_for(call.call_id, method, time.monotonic() + timeout)

    def _in_dialog(self, method: str, cseq: int, invite: Message, answer: Message) -> None:
        """ACK of a 2xx or BYE: to the callee's Contact, through the proxy's Record-Route."""
        routes = [r for value in answer.all("Record-Route") for r in value.split(",")]
        target = answer.get("Contact").strip("<>").split(">")[0]
        headers = [
            ("Via", f"SIP/2.0/UDP {self.host}:{self.port};branch=z9hG4bK{secrets.token_hex(8)};rport"),
            ("Max-Forwards", "70"),
            ("From", invite.get("From")), ("To", answer.get("To")), ("Call-ID", invite.get("Call-ID")),
            ("CSeq", f"{cseq} {method}"),
            *(("Route", r.strip()) for r in routes),
        ]
        self.sock.sendto(Message(f"{method} {target} SIP/2.0", headers).encode(), _uri_address(routes[0]) if routes else self.proxy)

    def answer_request(self, call_id: str, method: str, timeout: float = 5) -> Message | None:
        """Wait for a request of `call_id` (the proxy relaying the other side's BYE) and answer it 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data, source = self.sock.recvfrom(65535)
            except TimeoutError:
                return None
            message = Message.parse(data)
            if message.is_request and message.get("Call-ID") == call_id and message.method == method:
                self.sock.sendto(reply_to(message, 200, "OK").encode(), source)
                return message
        return None

    def _wait_for(self, call_id: str, method: str, deadline: float) -> Message | None:
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data, _ = self.sock.recvfrom(65535)
            except TimeoutError:
                return None
            message = Message.parse(data)
            if not message.is_request and message.get("Call-ID") == call_id and message.method == method and message.status >= 200:
                return message
        return None
