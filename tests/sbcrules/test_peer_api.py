"""SBC peers and their hosts over the API (docs/api.md §7)."""

from __future__ import annotations

import pytest

from sbcrules.models import Host, Peer
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
        "up": True, "hosts": [
            {"host": "192.0.2.1", "state": "up", "port": 5060, "transport": "udp"},
            {"host": "2001:db8::1", "state": "down", "port": 5060, "transport": "udp"},
        ],
    }
    assert list(Host.objects.filter(peer_id="Telenor").values_list("address", "down")) == [("192.0.2.1", False), ("2001:db8::1", True)]


def test_hosts_carry_port_and_transport(admin):
    body = {"_id": "TDC", "hosts": [{"host": "192.0.2.10", "state": "up", "port": 5070, "transport": "tcp"}, {"host": "192.0.2.11", "transport": "tls"}]}
    response = admin.post(URL, body, format="json")
    assert response.status_code == 201
    assert response.json()["hosts"] == [
        {"host": "192.0.2.10", "state": "up", "port": 5070, "transport": "tcp"},
        {"host": "192.0.2.11", "state": "up", "port": 5060, "transport": "tls"},
    ]
    # sent without port or transport, a host keeps what it had
    response = admin.patch(f"{URL}/TDC", {"hosts": [{"host": "192.0.2.10", "state": "down"}, {"host": "192.0.2.11", "port": 5061}]}, format="json")
    assert response.json()["hosts"] == [
        {"host": "192.0.2.10", "state": "down", "port": 5070, "transport": "tcp"},
        {"host": "192.0.2.11", "state": "up", "port": 5061, "transport": "tls"},
    ]
    assert list(Host.objects.order_by("id").values_list("port", "transport", "down")) == [(5070, "tcp", True), (5061, "tls", False)]


@pytest.mark.parametrize(
    ("host", "field", "message"),
    [
        ({"host": "192.0.2.1", "port": 0}, "port", "Port is invalid"),
        ({"host": "192.0.2.1", "port": 65536}, "port", "Port is invalid"),
        ({"host": "192.0.2.1", "port": "5060"}, "port", "Port is invalid"),
        ({"host": "192.0.2.1", "port": True}, "port", "Port is invalid"),
        ({"host": "192.0.2.1", "port": 5060.5}, "port", "Port is invalid"),
        ({"host": "192.0.2.1", "transport": "sctp"}, "transport", "Transport is invalid"),
        ({"host": "192.0.2.1", "transport": "UDP"}, "transport", "Transport is invalid"),
        ({"host": "192.0.2.1", "transport": 1}, "transport", "Transport is invalid"),
    ],
)
def test_bad_port_or_transport_is_a_422_and_stores_nothing(admin, host, field, message):
    response = admin.post(URL, {"_id": "TDC", "hosts": [host]}, format="json")
    assert response.status_code == 422
    assert response.json() == error(422, "hosts", message, f"hosts.0.{field}")
    assert not Peer.objects.exists()


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
        ({"_id": "NEW", "hosts": [{"host": "0.0.0.0"}]}, 422, "hosts", "Host is invalid", "hosts.0.host"),
        ({"_id": "NEW", "hosts": [{"host": "255.255.255.255"}]}, 422, "hosts", "Host is invalid", "hosts.0.host"),
        ({"_id": "NEW", "hosts": [{"host": "224.0.0.1"}]}, 422, "hosts", "Host is invalid", "hosts.0.host"),
        ({"_id": "NEW", "hosts": [{"host": "239.255.255.250"}]}, 422, "hosts", "Host is invalid", "hosts.0.host"),
        ({"_id": "NEW", "hosts": [{"host": "::"}]}, 422, "hosts", "Host is invalid", "hosts.0.host"),
        ({"_id": "NEW", "hosts": [{"host": "ff02::1"}]}, 422, "hosts", "Host is invalid", "hosts.0.host"),
        ({"_id": "NEW", "hosts": [{"host": "::ffff:224.0.0.1"}]}, 422, "hosts", "Host is invalid", "hosts.0.host"),
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
    assert response.json()["hosts"] == [
        {"host": "192.0.2.1", "state": "down", "port": 5060, "transport": "udp"},
        {"host": "192.0.2.3", "state": "up", "port": 5060, "transport": "udp"},
    ]
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


@pytest.mark.parametrize("url", ["/api/sbc/peer", "/api/sbc/rule", "/api/sbc/rule?type=PREFIX"])
def test_lists_carry_an_etag_that_changes_with_routing_data_and_answer_304(admin, url, django_assert_max_num_queries):
    peer = PeerFactory(id="TDC")
    RuleFactory(type="PREFIX", condition="+45", peer=peer)
    first = admin.get(url)
    etag = first["ETag"]
    assert first.status_code == 200 and etag.startswith('"')
    with django_assert_max_num_queries(2):  # the token, the stamp: no list query
        cached = admin.get(url, HTTP_IF_NONE_MATCH=etag)
    assert (cached.status_code, cached.content, cached["ETag"]) == (304, b"", etag)
    assert admin.get(url, HTTP_IF_NONE_MATCH=f'"other", {etag}').status_code == 304
    assert admin.get(url, HTTP_IF_NONE_MATCH='"other"').status_code == 200
    for change in (
        lambda: admin.post("/api/sbc/peer/TDC/host/" + peer.hosts.get().address, {"down": True}, format="json"),
        lambda: admin.patch("/api/sbc/rule/" + peer.rules.get().id, {"note": "changed"}, format="json"),
        lambda: admin.post("/api/sbc/peer", {"_id": "NEW"}, format="json"),
    ):
        assert change().status_code in (200, 201)
        again = admin.get(url, HTTP_IF_NONE_MATCH=etag)
        assert again.status_code == 200 and again["ETag"] != etag
        etag = again["ETag"]
    assert admin.get("/api/sbc/rule?type=ANUMBER")["ETag"] != admin.get("/api/sbc/rule")["ETag"]  # the query counts
