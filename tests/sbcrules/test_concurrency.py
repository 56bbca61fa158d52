"""Uniqueness under races is the database's: 20 simultaneous creates of one rule (docs/api.md §6)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from sbcrules.models import Peer, Rule
from tests.accounts.factories import EmployeeFactory, issue_token
from tests.sbcrules.factories import PeerFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite serialises writers; the race needs PostgreSQL"),
]

CLIENTS = 20


def race(requests: list) -> list:
    """Run each request in its own thread (own connection), all released at once."""
    barrier = threading.Barrier(len(requests))
    results: list = [None] * len(requests)

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = requests[i]()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def client(token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def test_twenty_concurrent_creates_of_one_rule_give_one_201_and_nineteen_409():
    PeerFactory(id="TDC")
    tokens = [issue_token(EmployeeFactory(admin=True)) for _ in range(CLIENTS)]
    body = {"type": "PREFIX", "condition": "+4570", "peer": "tdc"}
    responses = race([lambda t=t: client(t).post("/api/sbc/rule", body, format="json") for t in tokens])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (CLIENTS - 1)
    conflicts = [r.json() for r in responses if r.status_code == 409]
    assert all(c == {"error": {"code": "rule", "status": 409, "message": "Rule already exists"}} for c in conflicts)
    assert Rule.objects.count() == 1


def test_concurrent_peers_differing_only_in_case_and_concurrent_defaults():
    tokens = [issue_token(EmployeeFactory(admin=True)) for _ in range(10)]
    names = ["tdc", "TDC", "Tdc", "tDC", "TdC", "tdC", "TDc", "tDc", "TDC", "tdc"]
    responses = race([lambda t=t, n=n: client(t).post("/api/sbc/peer", {"_id": n}, format="json") for t, n in zip(tokens, names)])
    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
    assert Peer.objects.count() == 1
    responses = race([lambda t=t, i=i: client(t).post("/api/sbc/peer", {"_id": f"D{i}", "default": True}, format="json") for i, t in enumerate(tokens)])
    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
    assert Peer.objects.filter(default=True).count() == 1
