"""The demo never leaves the machine: its data points at loopback or documentation ranges, and its
call notify items deliver to the demo receiver on 127.0.0.1 (issue 8, item 1)."""

from __future__ import annotations

import ipaddress
import time
from io import StringIO

import pytest
from django.core.management import call_command

from callnotify.delivery import attempt_delivery
from callnotify.models import CallNotify, Delivery
from callnotify.validators import parse_target
from console.demo_receiver import FAILING_PATH, DemoReceiver
from sbcrules.models import Host

pytestmark = pytest.mark.django_db

# Loopback, and documentation ranges where nothing is ever sent (RFC 5737, RFC 3849, RFC 9637).
SAFE_NETWORKS = [ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "::1/128", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20",
)]


def is_safe(host: str) -> bool:
    address = ipaddress.ip_address(host)  # a name would be a lookup away from anywhere: not safe
    return any(address in network for network in SAFE_NETWORKS if network.version == address.version)


def seed(monkeypatch, http_port: int = 8001, tcp_port: int = 8002) -> str:
    monkeypatch.setenv("DEMO_RECEIVER_PORT", str(http_port))
    monkeypatch.setenv("DEMO_RECEIVER_TCP_PORT", str(tcp_port))
    out = StringIO()
    call_command("seeddemo", stdout=out)
    return out.getvalue()


def test_every_address_in_the_demo_data_is_loopback_or_documentation(monkeypatch) -> None:
    seed(monkeypatch)
    urls = list(CallNotify.objects.values_list("url", flat=True))
    hosts = list(Host.objects.values_list("address", flat=True))
    assert len(urls) == 4 and len(hosts) >= 3
    assert [url for url in urls if not is_safe(parse_target(url).host)] == []
    assert [host for host in hosts if not is_safe(host)] == []
    assert all(parse_target(url).host == "127.0.0.1" for url in urls)  # the demo receiver, not a doc range


def test_seeddemo_repoints_items_of_an_older_demo_database_at_the_receiver(monkeypatch) -> None:
    seed(monkeypatch)
    CallNotify.objects.filter(method="POSTJSON").update(url="http://100.64.10.1:8080/events")
    CallNotify.objects.filter(method="POSTARGS").update(url="tcp://100.64.10.2:5070")
    seed(monkeypatch, 20081, 20082)  # and a later bin/run on another PORT moves them along
    assert sorted(CallNotify.objects.values_list("url", flat=True)) == [
        "http://127.0.0.1:20081/always-fails", "http://127.0.0.1:20081/calls?key=demo", "http://127.0.0.1:20081/events",
        "tcp://127.0.0.1:20082"]


def test_simulated_demo_calls_are_delivered_to_the_demo_receiver(monkeypatch, settings) -> None:
    settings.CALLNOTIFY_ALLOWED_NETWORKS = ["127.0.0.1/32"]  # as bin/run allows it for the demo run
    receiver = DemoReceiver().start()
    try:
        out = seed(monkeypatch, receiver.http_port, receiver.tcp_port)
        assert f"demo receiver on 127.0.0.1:{receiver.http_port}" in out
        call_command("simulatecalls", "--calls", "6", "--rate", "1000", "--speed", "10000", stdout=StringIO())
        pending = Delivery.objects.filter(state="PENDING", call_id__startswith="sim-")
        for _ in range(20):  # a call's next event waits for the one before it
            for pk in pending.values_list("id", flat=True):
                attempt_delivery(pk)
            if not pending.exclude(endpoint__url__contains=FAILING_PATH).exists():
                break
        sim = Delivery.objects.filter(call_id__startswith="sim-")
        sent = sim.exclude(endpoint__url__contains=FAILING_PATH)
        assert sent.count() >= 6
        assert set(sent.values_list("state", flat=True)) == {"DELIVERED"}
        # The endpoint that fails on purpose got its first attempts, answered 503, and waits to retry.
        failing = sim.filter(endpoint__url__contains=FAILING_PATH)
        assert failing.exists() and set(failing.values_list("state", flat=True)) == {"PENDING"}
        assert set(failing.values_list("last_status", flat=True)) <= {503, None}
        deadline = time.monotonic() + 5
        delivered = [r for r in receiver.received if r[0] != "failing"]
        while len(delivered) < sent.count() and time.monotonic() < deadline:
            time.sleep(0.02)  # tcp lines are read after the sender has closed
            delivered = [r for r in receiver.received if r[0] != "failing"]
        assert len(delivered) == sent.count()
        assert {protocol for protocol, _ in receiver.received} <= {"http", "tcp", "failing"}
    finally:
        receiver.stop()


def _raw(port: int, request: bytes) -> bytes:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        return sock.recv(4096)


def test_the_demo_receiver_refuses_a_negative_or_oversized_body_and_keeps_only_the_last_events() -> None:
    from console.demo_receiver import KEEP, MAX_BODY

    receiver = DemoReceiver().start()
    try:
        port = receiver.http_port
        # Content-Length -1 once made the receiver read until the client hung up.
        assert _raw(port, b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n").startswith(b"HTTP/1.0 400")
        big = MAX_BODY + 1
        assert _raw(port, b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % big).startswith(b"HTTP/1.0 413")
        assert list(receiver.received) == []
        for n in range(KEEP + 5):
            receiver._record("http", f"event {n}")
        assert len(receiver.received) == KEEP and receiver.received[0] == ("http", "event 5")
    finally:
        receiver.stop()


def test_seeded_demo_deliveries_finish_after_they_were_created_and_after_their_attempts(monkeypatch) -> None:
    from callnotify.models import Delivery

    seed(monkeypatch)
    finished = list(Delivery.objects.exclude(finished_at=None).prefetch_related("attempt_log"))
    assert finished, "the demo seeds finished deliveries"
    for delivery in finished:
        attempts = sorted(delivery.attempt_log.all(), key=lambda a: a.number)
        assert len(attempts) == delivery.attempts
        assert delivery.created_at <= attempts[0].started_at
        assert delivery.finished_at > delivery.created_at
        assert delivery.finished_at >= attempts[-1].started_at
