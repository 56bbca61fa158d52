"""Kept-alive connections (docs/callevents.md §3): reused per checked address, never across a changed DNS answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from callnotify.delivery import attempt_delivery, run
from callnotify.models import Delivery
from callnotify.transports import POOL
from tests.callnotify.factories import post_event
from tests.callnotify.factories import CallNotifyFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback")]


class KeepAliveServer(ThreadingHTTPServer):
    """HTTP/1.1 with keep-alive; counts connections and requests; `close_idle()` drops every open one."""

    daemon_threads = True

    def __init__(self, host: str, port: int = 0) -> None:
        super().__init__((host, port), _Handler)
        self.connections = 0
        self.requests: list[str] = []
        self.open: list = []
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close_idle(self) -> None:
        import socket

        with self.lock:
            for sock in self.open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.connections += 1  # type: ignore[attr-defined]
            self.server.open.append(self.connection)  # type: ignore[attr-defined]

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.requests.append(body.decode())  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[KeepAliveServer]:
    POOL.clear()
    server = KeepAliveServer("127.0.0.1")
    yield server
    POOL.clear()
    server.shutdown()
    server.server_close()


def deliveries(endpoint, count: int, first: int = 0) -> list[str]:
    return [Delivery.objects.get(event=post_event(endpoint.customer, call_id=f"c{n}").event).id for n in range(first, first + count)]


def test_deliveries_to_one_endpoint_share_kept_alive_connections(server: KeepAliveServer, settings) -> None:
    settings.CALLNOTIFY_ENDPOINT_CONCURRENCY = 2
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{server.server_port}/hook")
    deliveries(endpoint, 10)
    assert set(run().values()) == {"delivered"}
    assert len(server.requests) == 10
    assert server.connections <= 2  # one per lane, each carrying its share
    deliveries(endpoint, 1, first=10)
    assert set(run().values()) == {"delivered"}
    assert server.connections <= 2  # the next batch reuses a pooled connection


def test_a_connection_the_endpoint_closed_meanwhile_is_replaced_without_losing_the_attempt(server: KeepAliveServer) -> None:
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{server.server_port}/hook")
    first, second = deliveries(endpoint, 2)
    assert attempt_delivery(first) == "delivered"
    server.close_idle()  # the endpoint drops its idle keep-alive connections
    assert attempt_delivery(second) == "delivered"
    assert len(server.requests) == 2 and server.connections == 2


def test_a_pooled_connection_is_never_used_once_the_name_points_somewhere_refused(server: KeepAliveServer, dns) -> None:
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{server.server_port}/hook")
    first, second = deliveries(endpoint, 2)
    assert attempt_delivery(first) == "delivered"  # a connection to 127.0.0.1 now waits in the pool
    dns["sink.example.com"] = ["169.254.169.254"]
    assert attempt_delivery(second) == "failed"
    delivery = Delivery.objects.get(pk=second)
    assert delivery.last_error == "refused: URL points to an invalid hostname"
    assert len(server.requests) == 1


def test_a_name_that_moved_to_another_allowed_address_gets_a_connection_there(server: KeepAliveServer, dns) -> None:
    try:
        other = KeepAliveServer("127.0.0.2", server.server_port)
    except OSError:
        pytest.skip("127.0.0.2 is not usable here")
    try:
        endpoint = CallNotifyFactory(url=f"http://sink.example.com:{server.server_port}/hook")
        first, second = deliveries(endpoint, 2)
        assert attempt_delivery(first) == "delivered"
        dns["sink.example.com"] = ["127.0.0.2"]
        assert attempt_delivery(second) == "delivered"
        assert (len(server.requests), len(other.requests)) == (1, 1)
    finally:
        other.shutdown()
        other.server_close()
