"""The admin refuses what the API refuses (the rules live in the models), and the route test page."""

from __future__ import annotations

import pytest
from django.test import Client

from sbcrules.models import Host, Peer, Rule
from tests.accounts.factories import EmployeeFactory
from tests.sbcrules.factories import DkOperatorFactory, PeerFactory, PortedNumberFactory, RuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(EmployeeFactory(admin=True))
    return client


def rule_form(**values: str) -> dict[str, str]:
    return {"type": "PREFIX", "condition": "+45", "peer": "TDC", "note": "", **values}


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"condition": "4570"}, "condition", "Prefix is invalid"),
        ({"type": "ANUMBER", "condition": "+45"}, "condition", "Condition is invalid"),
        ({"type": "CUSTOMER", "condition": "f" * 24}, "condition", "Customer not found"),
        ({"type": "DKCPS", "condition": "99999"}, "condition", "CPS not found"),
        ({"condition": "+46"}, None, "Rule already exists"),
    ],
)
def test_rule_form_refuses_with_the_api_message(staff, values, field, message):
    RuleFactory(type="PREFIX", condition="+46", peer=PeerFactory(id="TDC"))
    response = staff.post("/admin/sbcrules/rule/add/", rule_form(**values))
    assert response.status_code == 200  # the form again, with errors
    errors = response.context["adminform"].form.errors
    assert errors[field or "__all__"] == [message]
    assert Rule.objects.count() == 1


def test_rule_form_creates_and_cannot_change_the_type(staff):
    PeerFactory(id="TDC")
    response = staff.post("/admin/sbcrules/rule/add/", rule_form(condition="+4570"))
    assert response.status_code == 302
    rule = Rule.objects.get()
    staff.post(f"/admin/sbcrules/rule/{rule.id}/change/", rule_form(type="ANUMBER", condition="+4571"))
    rule.refresh_from_db()
    assert (rule.type, rule.condition) == ("PREFIX", "+4571")


def test_a_second_default_peer_is_refused(staff):
    PeerFactory(id="TDC", default=True)
    form = {
        "id": "tdc2", "name": "", "default": "on", "up": "on", "network_interface": "", "failover_peer": "",
        "hosts-TOTAL_FORMS": "1", "hosts-INITIAL_FORMS": "0", "hosts-0-address": "192.0.2.1",
    }
    response = staff.post("/admin/sbcrules/peer/add/", form)
    assert response.context["adminform"].form.errors["__all__"] == ["Another peer is the default"]
    response = staff.post("/admin/sbcrules/peer/add/", {**form, "id": "tdc", "default": ""})
    assert response.context["adminform"].form.errors["__all__"] == ["Peer already exists"]
    response = staff.post("/admin/sbcrules/peer/add/", {**form, "id": "bad id", "default": ""})
    assert response.context["adminform"].form.errors["id"] == ["Peer id is invalid"]
    assert list(Peer.objects.values_list("id", flat=True)) == ["TDC"]


def test_peer_with_hosts_inline_and_a_host_marked_down(staff):
    response = staff.post("/admin/sbcrules/peer/add/", {
        "id": "TELENOR", "name": "Telenor", "up": "on", "network_interface": "ETH0", "failover_peer": "",
        "hosts-TOTAL_FORMS": "2", "hosts-INITIAL_FORMS": "0",
        "hosts-0-address": "192.0.2.1", "hosts-0-port": "5060", "hosts-0-transport": "udp",
        "hosts-1-address": "192.0.2.2", "hosts-1-port": "5070", "hosts-1-transport": "tcp", "hosts-1-down": "on",
    })
    assert response.status_code == 302
    assert list(Host.objects.values_list("address", "port", "transport", "down")) == [
        ("192.0.2.1", 5060, "udp", False), ("192.0.2.2", 5070, "tcp", True),
    ]


def test_host_port_and_transport_are_checked_in_the_admin_with_the_api_messages(staff):
    response = staff.post("/admin/sbcrules/peer/add/", {
        "id": "TELENOR", "name": "", "up": "on", "network_interface": "", "failover_peer": "",
        "hosts-TOTAL_FORMS": "1", "hosts-INITIAL_FORMS": "0",
        "hosts-0-address": "192.0.2.1", "hosts-0-port": "70000", "hosts-0-transport": "sctp",
    })
    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors[0]
    assert errors["port"] == ["Port is invalid"]
    assert "transport" in errors
    assert not Peer.objects.exists()


def test_changelists_render(staff, django_assert_max_num_queries):
    peer = PeerFactory(id="TDC", hosts=["192.0.2.1", "192.0.2.2"])
    for i in range(5):
        RuleFactory(peer=peer)
    PortedNumberFactory()
    for url in ("/admin/sbcrules/peer/", "/admin/sbcrules/dkoperator/", "/admin/sbcrules/portednumber/?q=20",
                "/admin/sbcrules/numberrange/", "/admin/sbcrules/rule/?type__exact=PREFIX&q=%2B46"):
        assert staff.get(url).status_code == 200, url
    with django_assert_max_num_queries(12):
        response = staff.get("/admin/sbcrules/rule/")
    assert b"Test a route" in response.content


def test_route_test_page_shows_the_decision(staff):
    RuleFactory(type="PREFIX", condition="+4570", peer=PeerFactory(id="TDC"))
    DkOperatorFactory(id="01011")
    response = staff.get("/admin/sbcrules/rule/route/", {"bnumber": "+4570305050"})
    assert response.context["decision"].peer == "TDC"
    assert b'<td id="route-reason">prefix</td>' in response.content
    response = staff.get("/admin/sbcrules/rule/route/", {"bnumber": "70305050"})
    assert response.context["form"].errors["bnumber"] == ["Number is invalid"]
