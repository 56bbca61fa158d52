"""SBC peers and their hosts over the API (docs/api.md §7)."""

from __future__ import annotations

import pytest

from sbcrules.models import Host, Peer
from tests.accounts.factories import EmployeeFactory
from tests.sbcrules.factories import PeerFactory, RuleFactory
from tests.errorbody import error

pytestmark = pytest.mark.django_db

URL = "/api/sbc/peer"


def test_create_a_peer_with_hosts(admin):
    PeerFactory(id="TDC")
    body = {
        "_id": "Telenor", "name": "Telenor Denmark A/S", "default": True, "failoverPeerId": "tdc",
        "networkInterface": "ETH0", "hosts": [{"host": "192.0.2.1"}, {"host": "2001:DB8::1", "state": "down"}],
    }
    response = admin.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json() == {
        "_id": "Telenor", "name": "Telenor Denmark A/S", "default": True, "failoverPeerId": "TDC", "networkInterface": "ETH0",
        "up": True, "hosts": [{"host": "192.0.2.1", "state": "up"}, {"host": "2001:db8::1", "state": "down"}],
    }
    assert list(Host.objects.filter(peer_id="Telenor").values_list("address", "down")) == [("192.0.2.1", False), ("2001:db8::1", True)]


@pytest.mark.parametrize(
    ("body", "status", "code", "message", "path"),
    [
        ({}, 422, "id", "Peer id is invalid", "_id"),
        ({"_id": "has space"}, 422, "id", "Peer id is invalid", "_id"),
        ({"_id": "X" * 33}, 422, "id", "Peer id is invalid", "_id"),
        ({"_id": 12}, 422, "id", "Peer id is invalid", "_id"),
        ({"_id": "tdc"}, 409, "peer", "Peer already exists", "_id"),
        ({"_id": "TDC"}, 409, "peer", "Peer already exists", "_id"),
        ({"_id": "NEW", "default": True}, 409, "default", "Another peer is the default", "default"),
        ({"_id": "NEW", "default": "yes"}, 422, "default", "Default is invalid", "default"),
        ({"_id": "NEW", "up": 1}, 422, "up", "Up is invalid", "up"),
        ({"_id": "NEW", "failoverPeerId": "NOPE"}, 422, "failoverPeerId", "Failover peer not found", "failoverPeerId"),
        ({"_id": "NEW", "failoverPeerId": "bad id"}, 422, "failoverPeerId", "Failover peer is invalid", "failoverPeerId"),
        ({"_id": "NEW", "hosts": "192.0.2.1"}, 422, "hosts", "Hosts are invalid", "hosts"),
        ({"_id": "NEW", "hosts": [{"host": "999.1.1.1"}]}, 422, "hosts", "Host is invalid", "hosts.0.host"),
        ({"_id": "NEW", "hosts": [{"host": "192.0.2.1"}, {"host": "192.0.2.1"}]}, 422, "hosts", "Host is listed twice", "hosts.1.host"),
        ({"_id": "NEW", "hosts": [{"host": "192.0.2.1", "state": "DOWN"}]}, 422, "hosts", "Host state is invalid", "hosts.0.state"),
        ({"_id": "NEW", "networkInterface": "E" * 33}, 422, "networkInterface", "Network interface is invalid", "networkInterface"),
    ],
)
def test_create_refuses_with_the_documented_error(admin, body, status, code, message, path):
    PeerFactory(id="TDC", default=True)
    response = admin.post(URL, body, format="json")
    assert response.status_code == status
    assert response.json() == error(status, code, message, path)
    assert list(Peer.objects.values_list("id", flat=True)) == ["TDC"]


def test_update_replaces_hosts_and_keeps_the_state_of_hosts_sent_without_one(admin):
    peer = PeerFactory(id="TDC", hosts=[("192.0.2.1", True), "192.0.2.2"])
    response = admin.patch(f"{URL}/tdc", {"hosts": [{"host": "192.0.2.1"}, {"host": "192.0.2.3"}], "up": False}, format="json")
    assert response.status_code == 200
    assert response.json()["hosts"] == [{"host": "192.0.2.1", "state": "down"}, {"host": "192.0.2.3", "state": "up"}]
    peer.refresh_from_db()
    assert peer.up is False
    assert admin.post(f"{URL}/TDC", {"_id": "OTHER", "name": "New"}, format="json").json()["_id"] == "TDC"


def test_a_peer_cannot_fail_over_to_itself(admin):
    PeerFactory(id="TDC")
    response = admin.patch(f"{URL}/TDC", {"failoverPeerId": "tdc"}, format="json")
    assert response.json() == error(422, "failoverPeerId", "Failover peer is invalid", "failoverPeerId")


def test_list_get_and_unknown_peer(admin, django_assert_max_num_queries):
    PeerFactory(id="B", hosts=["192.0.2.1", "192.0.2.2"])
    PeerFactory(id="A")
    with django_assert_max_num_queries(4):
        response = admin.get(URL)
    assert [(p["_id"], len(p["hosts"])) for p in response.json()] == [("A", 1), ("B", 2)]
    assert admin.get(f"{URL}/b").json()["_id"] == "B"
    for path in ("NOPE", "bad%20id"):
        assert admin.get(f"{URL}/{path}").json() == error(404, "id", "Peer not found")


def test_a_peer_in_use_cannot_be_deleted(admin):
    peer = PeerFactory(id="TDC")
    backup = PeerFactory(id="BACKUP")
    PeerFactory(id="OTHER", failover_peer=backup)
    RuleFactory(peer=peer)
    for peer_id in ("TDC", "BACKUP"):
        response = admin.delete(f"{URL}/{peer_id}")
        assert response.status_code == 409
        assert response.json() == error(409, "peer", "Peer is in use")
    assert Peer.objects.count() == 3
    assert admin.delete(f"{URL}/other").json() == {"success": True}
    assert not Peer.objects.filter(id="OTHER").exists()


def test_host_state_can_be_read_and_set(admin):
    PeerFactory(id="TDC", hosts=["2001:db8::1"])
    assert admin.get(f"{URL}/tdc/host/2001:DB8:0::1").json() == {"host": "2001:db8::1", "down": False}
    response = admin.post(f"{URL}/TDC/host/2001:db8::1", {"down": True}, format="json")
    assert response.json() == {"host": "2001:db8::1", "down": True}
    assert Host.objects.get().down is True


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "message"),
    [
        ("NOPE/host/192.0.2.1", {"down": True}, 404, "id", "Peer not found"),
        ("TDC/host/192.0.2.9", {"down": True}, 404, "host", "Host not found"),
        ("TDC/host/not-an-ip", {"down": True}, 404, "host", "Host not found"),
        ("TDC/host/192.0.2.1", {"down": "yes"}, 422, "down", "Down is invalid"),
        ("TDC/host/192.0.2.1", {}, 422, "down", "Down is invalid"),
    ],
)
def test_host_state_errors(admin, path, body, status, code, message):
    PeerFactory(id="TDC", hosts=["192.0.2.1"])
    response = admin.post(f"{URL}/{path}", body, format="json")
    assert response.json() == error(status, code, message, code if status == 422 else None)
    assert Host.objects.get().down is False
