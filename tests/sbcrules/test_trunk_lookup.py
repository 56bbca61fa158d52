"""`GET /api/sbc/route?source=` (docs/sbcrules.md, "Trunks"): the trunk whose sources hold the
caller's address decides whose call it is, from the in-memory index."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from accounts.models import AccessLevel
from sbcrules.index import routing_index
from sbcrules.models import Trunk
from sbcrules.routing import TrunkData, compile_sources
from tests.accounts.factories import CustomerFactory, EmployeeFactory
from tests.errorbody import error
from tests.sbcrules.factories import PeerFactory, RuleFactory, TrunkFactory

pytestmark = pytest.mark.django_db

URL = "/api/sbc/route"
UNKNOWN = {"peer": None, "rule": None, "reason": "unknown_source", "chain": [], "targets": []}


def service(client_for, customer):
    employee = EmployeeFactory(customer=customer)
    employee.user_permissions.add(Permission.objects.get(codename="lookup_route"))
    return client_for(employee)


@pytest.fixture
def world():
    operator = CustomerFactory(reseller=True, is_operator=True)
    nordic = CustomerFactory(reseller=True, parent_reseller=operator)
    fjord = CustomerFactory(parent_reseller=nordic)
    hansen = CustomerFactory(parent_reseller=operator)
    tdc = PeerFactory(id="TDC", hosts=["192.0.2.10"], default=True)
    telenor = PeerFactory(id="TELENOR", hosts=["192.0.2.20"])
    RuleFactory(type="CUSTOMER", condition=fjord.pk, peer=telenor)
    RuleFactory(type="CUSTOMER", condition=hansen.pk, peer=telenor)
    trunks = {
        "hansen": TrunkFactory(customer=hansen, sources=["203.0.113.7", "198.51.100.0/24"], max_calls=30, calls_per_second=5),
        "nordic-office": TrunkFactory(customer=nordic, sources=["198.51.101.64/26"]),
        "border": TrunkFactory(customer=nordic, sources=["2001:db8:1::/48"], trust_customer_header=True),
        "off": TrunkFactory(customer=hansen, sources=["192.0.2.99"], state=Trunk.State.DISABLED),
    }
    return {"operator": operator, "nordic": nordic, "fjord": fjord, "hansen": hansen, "tdc": tdc, "trunks": trunks}


def test_the_trunk_whose_source_holds_the_address_decides_the_customer(client_for, world):
    switch = service(client_for, world["operator"])
    hansen = world["trunks"]["hansen"]
    answer = switch.get(URL, {"bnumber": "+4570305050", "source": "203.0.113.7"}).json()
    assert answer["customer"] == world["hansen"].pk
    assert answer["trunk"] == {"_id": hansen.pk, "maxCalls": 30, "callsPerSecond": 5}
    assert (answer["peer"], answer["reason"]) == ("TELENOR", "customer")  # Hansen's own CUSTOMER rule
    answer = switch.get(URL, {"bnumber": "+4570305050", "source": "198.51.101.70"}).json()
    assert (answer["customer"], answer["trunk"]["_id"]) == (world["nordic"].pk, world["trunks"]["nordic-office"].pk)
    assert (answer["peer"], answer["reason"]) == ("TDC", "default")
    answer = switch.get(URL, {"bnumber": "+4570305050", "source": "198.51.100.255"}).json()
    assert answer["trunk"]["_id"] == hansen.pk
    answer = switch.get(URL, {"bnumber": "+4570305050", "source": "2001:db8:1:ffff::5"}).json()
    assert answer["trunk"] == {"_id": world["trunks"]["border"].pk, "maxCalls": None, "callsPerSecond": None}


@pytest.mark.parametrize("source", ["192.0.2.99", "203.0.113.8", "198.51.101.63", "2001:db8:2::1", "127.0.0.1"])
def test_an_address_no_active_trunk_holds_is_unknown_source(client_for, world, source):
    switch = service(client_for, world["operator"])
    response = switch.get(URL, {"bnumber": "+4570305050", "source": source, "customer": world["hansen"].pk})
    assert response.status_code == 200
    assert response.json() == UNKNOWN


def test_an_ipv4_mapped_address_is_read_as_ipv4(client_for, world):
    switch = service(client_for, world["operator"])
    answer = switch.get(URL, {"bnumber": "+4570305050", "source": "::ffff:203.0.113.7"}).json()
    assert answer["trunk"]["_id"] == world["trunks"]["hansen"].pk


def test_a_malformed_source_is_a_422(client_for, world):
    switch = service(client_for, world["operator"])
    response = switch.get(URL, {"bnumber": "+4570305050", "source": "203.0.113.300"})
    assert response.status_code == 422
    assert response.json() == error(422, "source", "Source is invalid", "source")


def test_an_untrusted_trunks_customer_parameter_is_ignored(client_for, world):
    switch = service(client_for, world["operator"])
    answer = switch.get(URL, {"bnumber": "+4570305050", "source": "198.51.101.70", "customer": world["fjord"].pk}).json()
    assert (answer["customer"], answer["peer"], answer["reason"]) == (world["nordic"].pk, "TDC", "default")


def test_a_trusted_trunks_customer_parameter_is_honoured_for_customers_it_reaches(client_for, world):
    switch = service(client_for, world["operator"])
    answer = switch.get(URL, {"bnumber": "+4570305050", "source": "2001:db8:1::1", "customer": world["fjord"].pk.upper()}).json()
    assert (answer["customer"], answer["peer"], answer["reason"]) == (world["fjord"].pk, "TELENOR", "customer")
    # Hansen is not below Nordic: ignored, the call stays Nordic's
    answer = switch.get(URL, {"bnumber": "+4570305050", "source": "2001:db8:1::1", "customer": world["hansen"].pk}).json()
    assert (answer["customer"], answer["peer"]) == (world["nordic"].pk, "TDC")
    for junk in ("nonsense", "f" * 24):
        answer = switch.get(URL, {"bnumber": "+4570305050", "source": "2001:db8:1::1", "customer": junk}).json()
        assert answer["customer"] == world["nordic"].pk


def test_without_source_the_look_up_is_as_before(client_for, world):
    switch = service(client_for, world["operator"])
    answer = switch.get(URL, {"bnumber": "+4570305050", "customer": world["hansen"].pk}).json()
    assert answer == {"peer": "TELENOR", "rule": answer["rule"], "reason": "customer", "chain": ["TELENOR"],
                      "targets": [{"peer": "TELENOR", "host": "192.0.2.20", "port": 5060, "transport": "udp"}]}


def test_trunk_changes_reach_the_index_and_deleted_customers_trunks_are_strangers(client_for, world, admin):
    switch = service(client_for, world["operator"])
    ask = lambda: switch.get(URL, {"bnumber": "+4570305050", "source": "192.0.2.99"}).json()  # noqa: E731
    assert ask()["reason"] == "unknown_source"
    off = world["trunks"]["off"]
    admin.patch(f"/api/customer/{off.customer_id}/trunk/{off.pk}", {"state": "ACTIVE"}, format="json")
    assert ask()["trunk"]["_id"] == off.pk
    world["hansen"].state = "DELETED"
    world["hansen"].save()
    assert ask()["reason"] == "unknown_source"


def test_a_reseller_look_up_never_names_a_trunk_outside_its_subtree(client_for, world):
    """A second reseller without a parent (not the operator) asking with a foreign trunk's address."""
    other_root = CustomerFactory(reseller=True, features=["TELE"])
    assert other_root.is_operator is False
    reseller_admin = client_for(EmployeeFactory(customer=other_root, access_level=AccessLevel.RESELLER_ADMIN))
    assert reseller_admin.get(URL, {"bnumber": "+4570305050", "source": "203.0.113.7"}).json() == UNKNOWN
    key_of_other_root = service(client_for, other_root)
    assert key_of_other_root.get(URL, {"bnumber": "+4570305050", "source": "203.0.113.7"}).json() == UNKNOWN
    # Nordic's own switch reaches Nordic's trunks
    nordic_switch = service(client_for, world["nordic"])
    assert nordic_switch.get(URL, {"bnumber": "+4570305050", "source": "2001:db8:1::1"}).json()["customer"] == world["nordic"].pk
    assert nordic_switch.get(URL, {"bnumber": "+4570305050", "source": "203.0.113.7"}).json() == UNKNOWN


def test_a_look_up_with_source_reads_nothing_from_the_database(world, django_assert_max_num_queries, settings):
    from rest_framework.test import APIClient

    from accounts.models import ApiKey

    settings.ROUTING_CHECK_INTERVAL = 3600  # the index's freshness check (one query per interval) is not per look-up
    _, raw = ApiKey.objects.issue(name="kamailio", created_by=EmployeeFactory(admin=True, customer=world["operator"]))
    switch = APIClient()
    switch.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    switch.get(URL, {"bnumber": "+4570305050", "source": "203.0.113.7"})  # builds the index
    with django_assert_max_num_queries(1):  # the key with its account and permissions; no trunk, rule or customer
        answer = switch.get(URL, {"bnumber": "+4570305050", "source": "203.0.113.7", "customer": world["fjord"].pk}).json()
    assert answer["customer"] == world["hansen"].pk
    with django_assert_max_num_queries(1):
        switch.get(URL, {"bnumber": "+4570305050", "source": "2001:db8:1::1", "customer": world["fjord"].pk})


def test_the_source_index_probes_a_fixed_number_of_prefix_lengths():
    trunks = [(f"10.{n // 256}.{n % 256}.0/24", TrunkData(id=f"t{n}", customer="c")) for n in range(10_000)]
    trunks.append(("10.0.0.128/25", TrunkData(id="inner", customer="c")))
    trunks.append(("2001:db8::/32", TrunkData(id="v6", customer="c")))
    index = compile_sources(trunks)
    assert [length for length, _ in index.by_family[4]] == [25, 24]  # two probes for any IPv4 address
    assert index.find("10.0.0.200").id == "inner"
    assert index.find("10.0.0.5").id == "t0"
    assert index.find("10.39.15.1").id == f"t{39 * 256 + 15}"
    assert index.find("10.40.0.1") is None
    assert index.find("2001:db8:ffff::1").id == "v6"
    assert index.find("not an address") is None
    assert routing_index is not None
