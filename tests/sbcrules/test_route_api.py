"""`GET /api/sbc/route` (docs/api.md §9): from the stored rules, answered without reading them per call."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from sbcrules.index import routing_index
from sbcrules.lookup import serving_operator
from sbcrules.models import Rule
from tests.accounts.factories import CustomerFactory, EmployeeFactory
from tests.sbcrules.factories import DkOperatorFactory, HostFactory, NumberRangeFactory, PeerFactory, PortedNumberFactory, RuleFactory

pytestmark = pytest.mark.django_db

URL = "/api/sbc/route"


@pytest.fixture
def switch(client_for):
    """A service account: a plain VIEWER employee holding only sbcrules.lookup_route."""
    employee = EmployeeFactory()
    employee.user_permissions.add(Permission.objects.get(codename="lookup_route"))
    return client_for(employee)


TDC_TARGETS = [
    {"peer": "TDC", "host": "192.0.2.10", "port": 5060, "transport": "udp"},
    {"peer": "TDC", "host": "2001:db8::10", "port": 5061, "transport": "tls"},
]


@pytest.fixture
def data():
    tdc = PeerFactory(id="TDC", hosts=["192.0.2.10", ("192.0.2.11", True)])
    HostFactory(peer=tdc, address="2001:db8::10", port=5061, transport="tls")
    telenor = PeerFactory(id="TELENOR", hosts=[("192.0.2.1", True)], failover_peer=None)
    telenor.failover_peer = tdc
    telenor.save()
    DkOperatorFactory(id="01011", name="TDC")
    DkOperatorFactory(id="01020", name="Telenor")
    NumberRangeFactory(prefix="+4570", operator_id="01011")
    NumberRangeFactory(prefix="+457030", operator_id="01020")
    PortedNumberFactory(number="+4570305050", operator_id="01011")
    return {
        "prefix": RuleFactory(type="PREFIX", condition="+4570", peer=tdc),
        "dkcps": RuleFactory(type="DKCPS", condition="01020", peer=telenor),
    }


def test_switch_gets_the_decision_with_rule_reason_operator_and_chain(switch, data):
    response = switch.get(URL, {"bnumber": "+4570305050"})
    assert response.status_code == 200
    assert response.json() == {
        "peer": "TDC", "rule": {"_id": data["prefix"].id, "type": "PREFIX", "condition": "+4570"},
        "reason": "prefix", "operator": "01011", "chain": ["TDC"], "targets": TDC_TARGETS,
    }
    # not ported: the +457030 range holder 01020 has a DKCPS rule; TELENOR is down → TDC
    assert switch.get(URL, {"bnumber": "+4570301234"}).json() == {
        "peer": "TDC", "rule": {"_id": data["dkcps"].id, "type": "DKCPS", "condition": "01020"},
        "reason": "dkcps", "operator": "01020", "chain": ["TELENOR", "TDC"], "targets": TDC_TARGETS,
    }


def test_targets_follow_host_changes_and_end_with_the_failover_peers_hosts(switch, admin, data):
    telenor_host = "/api/sbc/peer/TELENOR/host/192.0.2.1"
    assert admin.post(telenor_host, {"down": False}, format="json").status_code == 200
    body = switch.get(URL, {"bnumber": "+4570301234"}).json()
    assert (body["peer"], body["chain"]) == ("TELENOR", ["TELENOR"])
    assert body["targets"] == [{"peer": "TELENOR", "host": "192.0.2.1", "port": 5060, "transport": "udp"}, *TDC_TARGETS]
    response = admin.patch("/api/sbc/peer/TDC", {"hosts": [{"host": "192.0.2.10", "port": 5080, "transport": "tcp"}]}, format="json")
    assert response.status_code == 200
    assert switch.get(URL, {"bnumber": "+4570305050"}).json()["targets"] == [
        {"peer": "TDC", "host": "192.0.2.10", "port": 5080, "transport": "tcp"},
    ]


def test_an_unencoded_plus_is_read_as_plus(admin, data):
    response = admin.get(f"{URL}?bnumber=+4570305050&anumber=+4512345678")
    assert response.json()["reason"] == "prefix"


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        ({}, "bnumber", "Number is invalid"),
        ({"bnumber": "4570305050"}, "bnumber", "Number is invalid"),
        ({"bnumber": "+45 70"}, "bnumber", "Number is invalid"),
        ({"bnumber": "+1234567890123456"}, "bnumber", "Number is invalid"),
        ({"bnumber": "+4570305050", "anumber": "abc"}, "anumber", "Number is invalid"),
        ({"bnumber": "+4570305050", "customer": "acme"}, "customer", "Customer is invalid"),
    ],
)
def test_malformed_input_is_a_422(admin, params, code, message):
    response = admin.get(URL, params)
    assert response.status_code == 422
    assert response.json() == {"error": {"code": code, "status": 422, "message": message, "path": code}}


def test_look_ups_read_no_rules_once_the_index_is_built(admin, data, django_assert_num_queries, settings):
    settings.ROUTING_CHECK_INTERVAL = 3600  # no marker check inside the measured call
    admin.get(URL, {"bnumber": "+4612345678"})  # builds the index
    # per call: the token check (1) and the ported-number look-up (1) — no rule, peer or marker query
    with django_assert_num_queries(2) as captured:
        response = admin.get(URL, {"bnumber": "+4570999999"})
    assert response.json()["reason"] == "prefix"
    assert not any("sbcrules_rule" in q["sql"] or "sbcrules_peer" in q["sql"] for q in captured.captured_queries)


def test_a_change_in_this_process_is_used_by_the_next_look_up(admin, data):
    assert admin.get(URL, {"bnumber": "+4612345678"}).json()["reason"] == "no_route"
    admin.post("/api/sbc/rule", {"type": "PREFIX", "condition": "+46", "peer": "TELENOR"}, format="json")
    assert admin.get(URL, {"bnumber": "+4612345678"}).json()["chain"] == ["TELENOR", "TDC"]
    admin.post("/api/sbc/peer/TELENOR/host/192.0.2.1", {"down": False}, format="json")
    assert admin.get(URL, {"bnumber": "+4612345678"}).json()["chain"] == ["TELENOR"]
    Rule.objects.filter(condition="+46").delete()
    assert admin.get(URL, {"bnumber": "+4612345678"}).json()["reason"] == "no_route"


def test_the_index_is_rebuilt_only_when_the_marker_changed(data, settings):
    settings.ROUTING_CHECK_INTERVAL = 0  # check the marker on every look-up
    first = routing_index.current()
    assert routing_index.current() is first
    PeerFactory(id="NEW")
    assert routing_index.current() is not first


def test_serving_operator_prefers_the_ported_record_then_the_longest_range(data, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert serving_operator("+4570305050") == "01011"
    with django_assert_num_queries(1):
        assert serving_operator("+4570301111") == "01020"
    assert serving_operator("+4570999999") == "01011"
    assert serving_operator("+4533333333") is None
    with django_assert_num_queries(0):
        assert serving_operator("+4670305050") is None


def test_customer_rule_matches_the_calling_customer(admin, data):
    customer = CustomerFactory()
    RuleFactory(type="CUSTOMER", condition=customer.id, peer_id="TDC")
    body = admin.get(URL, {"bnumber": "+4612345678", "customer": customer.id.upper()}).json()
    assert (body["reason"], body["peer"]) == ("customer", "TDC")


def test_deleting_many_rules_writes_the_marker_once(data, django_assert_max_num_queries):
    RuleFactory.create_batch(30, peer_id="TDC")
    with django_assert_max_num_queries(12) as captured:
        Rule.objects.all().delete()  # 32 post_delete signals
    assert sum("sbcrules_routingmarker" in q["sql"] for q in captured.captured_queries) == 1


def test_a_change_after_a_rolled_back_block_still_marks(data):
    from django.db import transaction

    from sbcrules.index import read_stamp

    with transaction.atomic():
        before = read_stamp()
        try:
            with transaction.atomic():
                PeerFactory(id="ROLLED")
                raise RuntimeError
        except RuntimeError:
            pass
        assert read_stamp() == before  # the inner block's marker write was rolled back
        PeerFactory(id="KEPT")
        assert read_stamp() != before


def test_a_reseller_routes_only_its_own_customers_by_their_rules(client_for, data):
    """A foreign customer id is routed exactly as an unknown one: its CUSTOMER rule stays unseen."""
    operator = CustomerFactory(reseller=True)  # the root of the reseller tree
    own_reseller = CustomerFactory(reseller=True, features=["TELE"], parent_reseller=operator)
    other_reseller = CustomerFactory(reseller=True, parent_reseller=operator)
    own, foreign = CustomerFactory(parent_reseller=own_reseller), CustomerFactory(parent_reseller=other_reseller)
    RuleFactory(type="CUSTOMER", condition=own.id, peer_id="TDC")
    RuleFactory(type="CUSTOMER", condition=foreign.id, peer_id="TDC")
    reseller = client_for(EmployeeFactory(customer=own_reseller, access_level="RESELLER_ADMIN"))
    ask = lambda customer: reseller.get(URL, {"bnumber": "+4612345678", "customer": customer})  # noqa: E731

    assert ask(own.id).json()["reason"] == "customer"
    foreign_answer, unknown_answer = ask(foreign.id), ask("6b0435f61e325f562a0a3d99")
    assert foreign_answer.status_code == unknown_answer.status_code == 200
    assert foreign_answer.json() == unknown_answer.json()
    assert foreign_answer.json()["reason"] != "customer"
