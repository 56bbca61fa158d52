"""Fixtures everyone uses: API clients per employee, fast password hashing, a local resolver,
and a fresh routing index (as a new process would have) in each test."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator

import pytest
from django.test import Client as DjangoClient
from rest_framework.test import APIClient

from accounts.models import Employee
from callnotify.addresses import use_resolver
from core import metrics
from sbcrules.counts import routing_counts
from sbcrules.index import routing_index
from tests.accounts.factories import EmployeeFactory, issue_token
from tests.schema_validation import SchemaValidatingMixin

pytest_plugins = ["tests.processes"]  # fixtures of the tests that run real processes

# Names the tests may use and what they resolve to; any other name does not resolve, as if
# it had no DNS record (the machines running tests have no outside DNS anyway).
TEST_DNS: dict[str, list[str]] = {
    "hooks.example.com": ["93.184.215.14"],
    "dual.example.com": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "rebind.example.com": ["93.184.215.14", "127.0.0.1"],
    "private.example.com": ["10.1.2.3"],
    "metadata.example.com": ["169.254.169.254"],
    "sitelocal.example.com": ["93.184.215.14", "fec0::1"],
}


def _refuse_beyond_loopback(address: object) -> None:
    if not isinstance(address, tuple):
        return  # a Unix socket
    host = str(address[0]).split("%", 1)[0]
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    assert loopback, f"a test tried to reach {host}: tests talk to 127.0.0.1 / ::1 only"


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch) -> None:
    """Safety net for every test (the fuzzer included): no connection or datagram leaves this
    machine, whatever URL an endpoint was saved with."""
    connect, connect_ex, sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto

    def guarded_connect(sock, address):  # type: ignore[no-untyped-def]
        _refuse_beyond_loopback(address)
        return connect(sock, address)

    def guarded_connect_ex(sock, address):  # type: ignore[no-untyped-def]
        _refuse_beyond_loopback(address)
        return connect_ex(sock, address)

    def guarded_sendto(sock, data, *args):  # type: ignore[no-untyped-def]
        _refuse_beyond_loopback(args[-1])
        return sendto(sock, data, *args)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket.socket, "sendto", guarded_sendto)


@pytest.fixture(autouse=True)
def _fast_passwords(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def dns() -> Iterator[dict[str, list[str]]]:
    """A resolver the test can edit: dns["name"] = ["1.2.3.4"]."""
    table = {name: list(addrs) for name, addrs in TEST_DNS.items()}

    def resolver(name: str) -> list[str]:
        if name not in table:
            raise OSError(f"no such name: {name}")
        return table[name]

    with use_resolver(resolver):
        yield table


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    from django.core.cache import cache

    from core.throttling import reset

    cache.clear()
    reset()  # the rate limit's per-process windows (core/throttling.py)
    yield
    cache.clear()
    reset()


class ValidatingAPIClient(SchemaValidatingMixin, APIClient):
    """DRF's test client whose every /api/ answer is checked against the OpenAPI schema."""


class ValidatingClient(SchemaValidatingMixin, DjangoClient):
    """Django's test client, checked the same way."""


@pytest.fixture
def client() -> DjangoClient:
    return ValidatingClient()


@pytest.fixture
def admin_client(client):
    """The Django admin in a browser's place: logged in as an ADMIN employee (the operator's staff)."""
    client.force_login(EmployeeFactory(admin=True))
    return client


@pytest.fixture
def api_client() -> APIClient:
    return ValidatingAPIClient()


@pytest.fixture
def client_for() -> Callable[[Employee], APIClient]:
    """An API client logged in (bearer token) as the given employee."""

    def make(employee: Employee) -> APIClient:
        client = ValidatingAPIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(employee)}")
        return client

    return make


@pytest.fixture(autouse=True)
def _no_routing_count_flush(settings) -> None:
    """Look-ups do not write the dashboard's routing counters unless a test asks (query counts stay exact)."""
    settings.ROUTING_COUNTS_FLUSH_SECONDS = 0


@pytest.fixture(autouse=True)
def _fresh_routing_index() -> Iterator[None]:
    """Each test starts with no routing index built and nothing counted (metrics included), as a fresh process."""
    routing_index.reset()
    routing_counts.reset()
    metrics.reset()
    _fresh_dependencies()
    yield
    routing_index.reset()
    routing_counts.reset()
    metrics.reset()
    _fresh_dependencies()


def _fresh_dependencies() -> None:
    """Every breaker closed and no credential remembered (core/outage.py, accounts/authentication.py)."""
    from accounts.authentication import forget_all
    from core import outage

    for breaker in (outage.database, outage.cache, outage.broker):
        breaker.close()
    forget_all()
