"""The call notify URL rule table (docs/api.md §5): one row per documented error, and accepted URLs."""

from __future__ import annotations

import pytest

from accounts.models import AccessLevel
from callnotify.models import CallNotify
from tests.accounts.factories import EmployeeFactory

pytestmark = pytest.mark.django_db

INVALID_URL = "Invalid URL"
PROTOCOL = "URL protocol is invalid"
HOST_PORT_ONLY = "Protocol types TCP and UDP only permit host and port"
NEED_PORT = "Protocol types TCP and UDP requires a valid port"
PORT = "Port is invalid"
BAD_IP = "URL points to an invalid IP address"
BAD_NAME = "URL points to an invalid hostname"

REJECTED = [
    # Invalid URL: missing, not a string, too long, unparseable, no host, userinfo
    (None, INVALID_URL),
    ("", INVALID_URL),
    (42, INVALID_URL),
    (["http://8.8.8.8"], INVALID_URL),
    ("http://8.8.8.8/" + "a" * 2040, INVALID_URL),
    ("8.8.8.8:80", INVALID_URL),
    ("http://", INVALID_URL),
    ("http:///path", INVALID_URL),
    ("http://[::1", INVALID_URL),
    ("http://exa mple.com/", INVALID_URL),
    ("http://user:pw@8.8.8.8/", INVALID_URL),
    ("http://user@8.8.8.8/", INVALID_URL),
    ("http://8.8.8.8:18081/päth", INVALID_URL),  # non-ASCII path, query, fragment: percent-encode them
    ("http://8.8.8.8/?q=ä", INVALID_URL),
    ("http://8.8.8.8/#ä", INVALID_URL),
    # protocol
    ("file:///etc/passwd", PROTOCOL),  # the protocol is the first thing wrong
    ("gopher:///x", PROTOCOL),
    ("ftp://8.8.8.8/", PROTOCOL),
    ("ws://8.8.8.8:80/", PROTOCOL),
    ("file://8.8.8.8/etc/passwd", PROTOCOL),
    # tcp/udp: host and port only
    ("tcp://8.8.8.8:5060/path", HOST_PORT_ONLY),
    ("udp://8.8.8.8:5060/?a=1", HOST_PORT_ONLY),
    ("tcp://8.8.8.8:5060?a=1", HOST_PORT_ONLY),
    ("udp://8.8.8.8:5060#frag", HOST_PORT_ONLY),
    # tcp/udp: port required
    ("tcp://8.8.8.8", NEED_PORT),
    ("udp://8.8.8.8/", NEED_PORT),
    # port
    ("http://8.8.8.8:0/", PORT),
    ("http://8.8.8.8:65536/", PORT),
    ("http://8.8.8.8:http/", PORT),
    ("http://8.8.8.8:/", PORT),
    ("tcp://8.8.8.8:-1", PORT),
    ("udp://[2001:4860::1]:99999", PORT),
    # IP addresses in every spelling the resolver accepts
    ("http://127.0.0.1/", BAD_IP),
    ("http://127.1/", BAD_IP),
    ("http://2130706433/", BAD_IP),
    ("http://0x7f.1/", BAD_IP),
    ("http://0x7f000001/", BAD_IP),
    ("http://0177.0.0.1/", BAD_IP),
    ("http://017700000001/", BAD_IP),
    ("http://[::1]/", BAD_IP),
    ("http://[::ffff:127.0.0.1]/", BAD_IP),
    ("http://[::ffff:7f00:1]/", BAD_IP),
    ("http://[64:ff9b::a00:1]/", BAD_IP),
    ("http://[2002:a00:1::1]/", BAD_IP),
    ("http://169.254.169.254/latest/meta-data", BAD_IP),
    ("http://[fe80::1]/", BAD_IP),
    ("http://0.0.0.0/", BAD_IP),
    ("http://0/", BAD_IP),
    ("http://[::]/", BAD_IP),
    ("http://10.0.0.1/", BAD_IP),
    ("http://172.16.5.4/", BAD_IP),
    ("http://192.168.1.1/", BAD_IP),
    ("http://[fd00::1]/", BAD_IP),
    ("http://224.0.0.1/", BAD_IP),
    ("udp://[ff02::1]:5060", BAD_IP),
    ("http://255.255.255.255/", BAD_IP),
    ("http://240.0.0.1/", BAD_IP),
    ("http://192.0.2.10/", BAD_IP),
    ("http://[2001:4860:4860::8888%25lo]/", BAD_IP),  # zone ids
    ("http://[2001:4860:4860::8888%lo]/", BAD_IP),
    ("http://[3fff::1]/", BAD_IP),  # RFC 9637 documentation
    ("http://192.88.99.1/", BAD_IP),  # 6to4 relay anycast
    ("http://198.51.100.7/", BAD_IP),
    ("http://203.0.113.9/", BAD_IP),
    ("http://[2001:db8::1]/", BAD_IP),
    ("http://198.18.0.1/", BAD_IP),
    ("http://256.1.1.1/", BAD_IP),
    ("http://1.2.3.4.5/", BAD_IP),
    ("http://[fe80::1%25eth0]/", BAD_IP),
    ("http://127.0.0.1./", BAD_IP),
    ("http://[::7f00:1]/", BAD_IP),  # IPv4-compatible ::127.0.0.1
    ("http://[::ffff:0:7f00:1]/", BAD_IP),  # IPv4-translated (SIIT)
    ("udp://[::ffff:0:a00:1]:53", BAD_IP),
    ("http://[64:ff9b:1::a00:1]/", BAD_IP),  # local-use NAT64 prefix
    ("http://[fec0::1]/", BAD_IP),  # site-local
    ("http://[4000::1]/", BAD_IP),  # reserved, outside 2000::/3
    ("http://192.0.0.8/", BAD_IP),  # IETF protocol assignments
    # host names
    ("http://localhost/", BAD_NAME),
    ("http://LOCALHOST:8000/", BAD_NAME),
    ("http://api.localhost/", BAD_NAME),
    ("http://printer.local/", BAD_NAME),
    ("http://metadata.google.internal/", BAD_NAME),
    ("http://box.localdomain/", BAD_NAME),
    ("http://-bad-.example.com/", BAD_NAME),
    ("http://under_score.example.com/", BAD_NAME),
    ("http://" + "a" * 64 + ".example.com/", BAD_NAME),
    ("http://" + ".".join(["abcdefghi"] * 26) + ".com/", BAD_NAME),
    ("http://a..b.example.com/", BAD_NAME),
    ("http://nx.example.com/", BAD_NAME),  # does not resolve
    ("http://private.example.com/", BAD_NAME),  # resolves to 10.1.2.3
    ("http://metadata.example.com/", BAD_NAME),  # resolves to 169.254.169.254
    ("http://rebind.example.com/", BAD_NAME),  # one of its addresses is 127.0.0.1
    ("http://sitelocal.example.com/", BAD_NAME),  # its AAAA record is fec0::1
]

ACCEPTED = [
    "http://100.64.123.100:4000/call",
    "https://hooks.example.com/x?key=1",
    "tcp://100.64.123.103:4010",
    "udp://[2001:4860::1]:5060",
    "tcp://100.64.123.103:4010/",
    "HTTPS://HOOKS.example.com/",
    "http://8.8.8.8",
    "https://dual.example.com:8443/path/to?a=1&b=2#frag",
    "http://hooks.example.com./",
    "http://8.8.8.8./",
    "http://[64:ff9b::808:808]/",  # NAT64 of 8.8.8.8
]


@pytest.fixture
def items_url(client_for):
    employee = EmployeeFactory(access_level=AccessLevel.OWNER)
    return client_for(employee), f"/api/customer/{employee.customer_id}/callnotify"


@pytest.mark.parametrize(("url", "message"), REJECTED)
def test_rejected_url_answers_documented_error(items_url, url, message):
    client, path = items_url
    response = client.post(path, {"url": url, "method": "POSTJSON", "selection": "ALL"}, format="json")
    assert response.status_code == 422
    assert response.json() == {"error": {"code": "url", "status": 422, "message": message, "path": "url"}}
    assert CallNotify.objects.count() == 0


@pytest.mark.parametrize("url", ACCEPTED)
def test_accepted_url_is_stored(items_url, url):
    client, path = items_url
    response = client.post(path, {"url": url, "method": "GET2", "selection": "SIP"}, format="json")
    assert response.status_code == 201, response.json()
    assert CallNotify.objects.get().url == url


def test_missing_url_is_invalid_url(items_url):
    client, path = items_url
    response = client.post(path, {"method": "POSTJSON", "selection": "ALL"}, format="json")
    assert response.json()["error"] == {"code": "url", "status": 422, "message": INVALID_URL, "path": "url"}


@pytest.mark.parametrize(
    ("networks", "url"),
    [
        (["127.0.0.0/8"], "http://127.0.0.1:8080/hook"),
        (["127.0.0.0/8"], "http://127.1:8080/hook"),
        (["127.0.0.0/8"], "http://[::ffff:127.0.0.1]:8080/hook"),
        (["10.20.0.0/16"], "tcp://10.20.3.4:5000"),
        (["::1/128"], "udp://[::1]:5060"),
    ],
)
def test_allowed_networks_setting_lets_private_addresses_through(items_url, settings, networks, url):
    settings.CALLNOTIFY_ALLOWED_NETWORKS = networks
    client, path = items_url
    response = client.post(path, {"url": url, "method": "POSTJSON", "selection": "ALL"}, format="json")
    assert response.status_code == 201, response.json()


def test_allowed_networks_do_not_open_other_private_ranges(items_url, settings):
    settings.CALLNOTIFY_ALLOWED_NETWORKS = ["10.20.0.0/16"]
    client, path = items_url
    response = client.post(path, {"url": "http://10.21.0.1/", "method": "POSTJSON", "selection": "ALL"}, format="json")
    assert response.json()["error"]["message"] == BAD_IP


def test_unresolvable_name_is_accepted_when_resolution_is_off(items_url, settings):
    settings.CALLNOTIFY_RESOLVE_HOSTNAMES = False
    client, path = items_url
    response = client.post(path, {"url": "https://nx.example.com/", "method": "POSTJSON", "selection": "ALL"}, format="json")
    assert response.status_code == 201


def test_internal_names_are_refused_even_when_resolution_is_off(items_url, settings):
    settings.CALLNOTIFY_RESOLVE_HOSTNAMES = False
    client, path = items_url
    response = client.post(path, {"url": "http://localhost/", "method": "POSTJSON", "selection": "ALL"}, format="json")
    assert response.json()["error"]["message"] == BAD_NAME
