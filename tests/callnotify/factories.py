"""Factories for call notify items and call events."""

from datetime import datetime, timezone

import factory

from django.contrib.auth.models import Permission

from accounts.models import AccessLevel, Customer, Employee
from callnotify.ingest import Recorded, record_call_event
from callnotify.models import CallNotify
from tests.accounts.factories import CustomerFactory, EmployeeFactory


class CallNotifyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CallNotify

    customer = factory.SubFactory(CustomerFactory)
    # A documentation address (RFC 5737): refused at send time, so a test delivery never leaves the machine.
    url = factory.Sequence(lambda n: f"http://192.0.2.{n % 250 + 1}:4000/call{n}")
    method = CallNotify.Method.POSTJSON
    selection = CallNotify.Selection.ALL


T0 = datetime(2026, 11, 22, 10, 15, tzinfo=timezone.utc)


def post_event(customer: Customer, call_id: str = "call-1", state: str = "RINGING", **fields: object) -> Recorded:
    """Store an event through the same code the API uses."""
    values: dict[str, object] = {
        "type": "SIP", "direction": "INBOUND", "state": state, "a_number": "+4512345678",
        "b_number": "+4570305050", "timestamp": T0,
    }
    values.update(fields)
    return record_call_event(call_id=call_id, customer=customer, **values)


# The call notify URL rule table (docs/api.md §5): one row per documented error, and accepted URLs;
# the API (test_urls) and the admin (test_admin) must refuse and accept the same ones.
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


def service_account(customer: Customer) -> Employee:
    """A plain employee of `customer` with the Django permission callnotify.add_callevent (a switch)."""
    employee = EmployeeFactory(access_level=AccessLevel.VIEWER, customer=customer)
    employee.user_permissions.add(Permission.objects.get(codename="add_callevent", content_type__app_label="callnotify"))
    return employee
