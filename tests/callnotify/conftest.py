"""Local endpoints for delivery tests: http (pytest-httpserver), https (own test CA), tcp and udp servers.

Loopback is reachable only in tests that ask for the `loopback` fixture, and only through the
CALLNOTIFY_ALLOWED_NETWORKS setting, as an operator would allow a network.
"""

from __future__ import annotations

import queue
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from accounts.models import Customer
from tests.accounts.factories import CustomerFactory
from tests.callnotify.factories import service_account


TLS = Path(__file__).parent / "tls"


@pytest.fixture(autouse=True)
def _no_broker(settings) -> None:
    # Deliveries are driven by the tests themselves (attempt_delivery with a clock), never by
    # a broker from the environment or a background thread.
    settings.CELERY_BROKER_URL = ""


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    return ("127.0.0.1", 0)


@pytest.fixture
def loopback(settings, dns) -> None:
    settings.CALLNOTIFY_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.CALLNOTIFY_CA_FILE = str(TLS / "ca.pem")
    dns["sink.example.com"] = ["127.0.0.1"]


@pytest.fixture(scope="session")
def _https_server() -> Iterator[HTTPServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(TLS / "sink.pem", TLS / "sink.key")
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def https_server(_https_server: HTTPServer) -> Iterator[HTTPServer]:
    yield _https_server
    _https_server.clear()


class LineServer(socketserver.ThreadingTCPServer):
    """Accepts connections and puts everything each one sent, up to EOF, on `received`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.received: queue.Queue[bytes] = queue.Queue()
        super().__init__(("127.0.0.1", 0), _LineHandler)


class _LineHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        chunks = []
        while data := self.request.recv(65536):
            chunks.append(data)
        self.server.received.put(b"".join(chunks))  # type: ignore[attr-defined]


@pytest.fixture
def tcp_server() -> Iterator[LineServer]:
    server = LineServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def udp_socket() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


@pytest.fixture
def operator() -> Customer:
    """The operator's own customer: the root of the reseller tree."""
    return CustomerFactory(name="Operator", is_reseller=True)


@pytest.fixture
def switch(client_for, operator: Customer):
    """The real switch: a service account of the operator's own customer, reaching every customer."""
    return client_for(service_account(operator))
