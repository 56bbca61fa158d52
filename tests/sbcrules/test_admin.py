"""The admin refuses what the API refuses (the rules live in the models), and the route test page."""

from __future__ import annotations

import pytest
from django.test import Client

from sbcrules.models import Host, Peer, Rule
from tests.sbcrules.factories import DkOperatorFactory, PeerFactory, PortedNumberFactory, RuleFactory

pytestmark = pytest.mark.django_db


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
def test_rule_form_refuses_with_the_api_message(admin_client, values, field, message):
    RuleFactory(type="PREFIX", condition="+46", peer=PeerFactory(id="TDC"))
    response = admin_client.post("/admin/sbcrules/rule/add/", rule_form(**values))
    assert response.status_code == 200  # the form again, with errors
    errors = response.context["adminform"].form.errors
    assert errors[field or "__all__"] == [message]
    assert Rule.objects.count() == 1


def test_rule_form_creates_and_cannot_change_the_type(admin_client):
    PeerFactory(id="TDC")
    response = admin_client.post("/admin/sbcrules/rule/add/", rule_form(condition="+4570"))
    assert response.status_code == 302
    rule = Rule.objects.get()
    admin_client.post(f"/admin/sbcrules/rule/{rule.id}/change/", rule_form(type="ANUMBER", condition="+4571"))
    rule.refresh_from_db()
    assert (rule.type, rule.condition) == ("PREFIX", "+4571")


def test_a_second_default_peer_is_refused(admin_client):
    PeerFactory(id="TDC", default=True)
    form = {
        "id": "tdc2", "name": "", "default": "on", "up": "on", "network_interface": "", "failover_peer": "",
        "hosts-TOTAL_FORMS": "1", "hosts-INITIAL_FORMS": "0", "hosts-0-address": "192.0.2.1",
    }
    response = admin_client.post("/admin/sbcrules/peer/add/", form)
    assert response.context["adminform"].form.errors["__all__"] == ["Another peer is the default"]
    response = admin_client.post("/admin/sbcrules/peer/add/", {**form, "id": "tdc", "default": ""})
    assert response.context["adminform"].form.errors["__all__"] == ["Peer already exists"]
    response = admin_client.post("/admin/sbcrules/peer/add/", {**form, "id": "bad id", "default": ""})
    assert response.context["adminform"].form.errors["id"] == ["Peer id is invalid"]
    assert list(Peer.objects.values_list("id", flat=True)) == ["TDC"]


def test_peer_with_hosts_inline_and_a_host_marked_down(admin_client):
    response = admin_client.post("/admin/sbcrules/peer/add/", {
        "id": "TELENOR", "name": "Telenor", "up": "on", "network_interface": "ETH0", "failover_peer": "",
        "hosts-TOTAL_FORMS": "2", "hosts-INITIAL_FORMS": "0",
        "hosts-0-address": "192.0.2.1", "hosts-0-port": "5060", "hosts-0-transport": "udp",
        "hosts-1-address": "192.0.2.2", "hosts-1-port": "5070", "hosts-1-transport": "tcp", "hosts-1-down": "on",
    })
    assert response.status_code == 302
    assert list(Host.objects.values_list("address", "port", "transport", "down")) == [
        ("192.0.2.1", 5060, "udp", False), ("192.0.2.2", 5070, "tcp", True),
    ]


def test_host_port_and_transport_are_checked_in_the_admin_with_the_api_messages(admin_client):
    response = admin_client.post("/admin/sbcrules/peer/add/", {
        "id": "TELENOR", "name": "", "up": "on", "network_interface": "", "failover_peer": "",
        "hosts-TOTAL_FORMS": "1", "hosts-INITIAL_FORMS": "0",
        "hosts-0-address": "192.0.2.1", "hosts-0-port": "70000", "hosts-0-transport": "sctp",
    })
    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors[0]
    assert errors["port"] == ["Port is invalid"]
    assert "transport" in errors
    assert not Peer.objects.exists()


def test_changelists_render(admin_client, django_assert_max_num_queries):
    peer = PeerFactory(id="TDC", hosts=["192.0.2.1", "192.0.2.2"])
    for i in range(5):
        RuleFactory(peer=peer)
    PortedNumberFactory()
    for url in ("/admin/sbcrules/peer/", "/admin/sbcrules/dkoperator/", "/admin/sbcrules/portednumber/?q=20",
                "/admin/sbcrules/numberrange/", "/admin/sbcrules/rule/?type__exact=PREFIX&q=%2B46"):
        assert admin_client.get(url).status_code == 200, url
    with django_assert_max_num_queries(12):
        response = admin_client.get("/admin/sbcrules/rule/")
    assert b"Test a route" in response.content


def test_route_test_page_shows_the_decision(admin_client):
    RuleFactory(type="PREFIX", condition="+4570", peer=PeerFactory(id="TDC"))
    DkOperatorFactory(id="01011")
    response = admin_client.get("/admin/sbcrules/rule/route/", {"bnumber": "+4570305050"})
    assert response.context["decision"].peer == "TDC"
    assert b'<td id="route-reason">prefix</td>' in response.content
    response = admin_client.get("/admin/sbcrules/rule/route/", {"bnumber": "70305050"})
    assert response.context["form"].errors["bnumber"] == ["Number is invalid"]


def upload(admin_client: Client, text: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return admin_client.post("/admin/sbcrules/rule/import/", {"file": SimpleUploadedFile("rules.csv", text.encode())})


@pytest.mark.parametrize("padding", [1, 13 * 1024 * 1024])
def test_rules_import_refuses_a_file_over_1_mb(admin_client, settings, padding):
    """Over API_MAX_BODY_BYTES: refused with the documented message (a 13.8 MB file was accepted)."""
    PeerFactory(id="TDC")
    note = "x" * (settings.API_MAX_BODY_BYTES + padding)
    page = upload(admin_client, f"type,condition,peer,note\nPREFIX,+4570,TDC,{note}\n").content.decode()
    assert "File too large: at most 1 MB here (API_MAX_BODY_BYTES); import bigger files with manage.py importrules" in page
    assert not Rule.objects.exists()


def test_rules_import_with_a_bad_line_lists_it_and_stores_nothing(admin_client):
    PeerFactory(id="TDC")
    page = upload(admin_client, "type,condition,peer,note\nPREFIX,+4570,TDC,ok\nPREFIX,+4571,NOPE,\nBOGUS,+1,TDC,\n").content.decode()
    assert "2 bad lines: nothing will be imported" in page
    assert "line 3: peer: Peer not found" in page and "line 4: type: Type is invalid" in page
    assert 'id="import-confirm"' not in page and Rule.objects.count() == 0


def test_rules_import_previews_then_stores_on_confirm_and_export_writes_what_the_command_writes(admin_client):
    from io import StringIO

    from django.core.management import call_command

    tdc, telia = PeerFactory(id="TDC"), PeerFactory(id="TELIA")
    RuleFactory(condition="+4570", peer=tdc, note="old")
    RuleFactory(condition="+4572", peer=tdc, note="same")
    text = "type,condition,peer,note\nPREFIX,+4570,TELIA,new\nPREFIX,+4571,TDC,\nPREFIX,+4572,TDC,same\n"
    page = upload(admin_client, text).content.decode()
    assert "3 lines: 1 new rules, 1 changed, 1 unchanged" in page and "TDC → TELIA" in page
    assert Rule.objects.get(condition="+4570").peer_id == "TDC" and Rule.objects.count() == 2  # a preview stores nothing

    done = admin_client.post("/admin/sbcrules/rule/import/", {"text": text}, follow=True).content.decode()
    assert "Imported 3 rules from 3 lines (1 new, 1 changed)" in done
    assert Rule.objects.get(condition="+4570").peer_id == telia.id and Rule.objects.count() == 3

    out = StringIO()
    call_command("exportrules", stdout=out)
    exported = admin_client.get("/admin/sbcrules/rule/export/")
    assert exported["Content-Type"].startswith("text/csv") and exported.content.decode() == out.getvalue()


def test_peers_show_usable_as_routing_judges_it(admin_client):
    telia = PeerFactory(id="TELIA")
    Host.objects.create(peer=telia, address="192.0.2.10", down=True)
    PeerFactory(id="TDC")  # up, with a host up (the factory's)
    page = admin_client.get("/admin/sbcrules/peer/").content.decode()
    row = page[page.index(">TELIA<"):][:600]
    assert 'alt="False"' in row.split("</tr>")[0]


# --- trunks: the admin claims sources under the API's lock, with the API's messages ---

def trunk_form(customer, **values):
    form = {"customer": customer.pk, "name": "Hansen PBX", "sources": "203.0.113.7\n198.51.100.0/28", "max_calls": "30",
            "calls_per_second": "", "state": "ACTIVE"}
    form.update(values)
    return form


def test_admin_adds_and_changes_a_trunk_and_the_index_follows(admin_client):
    from sbcrules.index import routing_index
    from sbcrules.models import Trunk
    from tests.accounts.factories import CustomerFactory

    customer = CustomerFactory()
    response = admin_client.post("/admin/sbcrules/trunk/add/", trunk_form(customer))
    assert response.status_code == 302, response.content.decode()[:3000]
    trunk = Trunk.objects.get()
    assert (trunk.sources, trunk.max_calls, trunk.calls_per_second) == (["203.0.113.7", "198.51.100.0/28"], 30, None)
    assert routing_index.current().sources.find("198.51.100.5").id == trunk.pk
    admin_client.post(f"/admin/sbcrules/trunk/{trunk.pk}/change/", trunk_form(customer, sources="2001:DB8::1, 203.0.113.7"))
    trunk.refresh_from_db()
    assert trunk.sources == ["2001:db8::1", "203.0.113.7"]
    assert routing_index.current().sources.find("198.51.100.5") is None
    assert admin_client.get("/admin/sbcrules/trunk/?q=2001").status_code == 200
    admin_client.post(f"/admin/sbcrules/trunk/{trunk.pk}/delete/", {"post": "yes"})
    assert not Trunk.objects.exists() and routing_index.current().sources.find("203.0.113.7") is None


def test_admin_refuses_what_the_api_refuses(admin_client):
    from sbcrules.models import Trunk
    from tests.accounts.factories import CustomerFactory
    from tests.sbcrules.factories import TrunkFactory

    TrunkFactory(sources=["192.0.2.0/24"])
    customer = CustomerFactory()
    for values, message in (({"sources": "192.0.2.9"}, "Source is used by another trunk"), ({"sources": "nowhere"}, "Source is invalid"),
                            ({"sources": ""}, "Source is invalid"), ({"max_calls": "0"}, "Max calls is invalid"),
                            ({"name": ""}, "Name is invalid")):
        response = admin_client.post("/admin/sbcrules/trunk/add/", trunk_form(customer, **values))
        assert response.status_code == 200 and message in response.content.decode(), values
    assert Trunk.objects.count() == 1


def test_rule_types_read_as_the_api_writes_them(admin_client):
    """Rule types as DKCPS/ANUMBER (not "Dkcps"/"Anumber"), transports as udp (not "Udp")."""
    peer = PeerFactory(id="TDC")
    RuleFactory(type="ANUMBER", condition="+4512345678", peer=peer)
    page = admin_client.get("/admin/sbcrules/rule/").content.decode()
    assert ">ANUMBER<" in page and "Anumber" not in page
    assert ">DKCPS<" in page and "Dkcps" not in page  # the type filter
    change = admin_client.get(f"/admin/sbcrules/rule/{Rule.objects.get().pk}/change/").content.decode()
    assert "Dkcps" not in change and "Anumber" not in change
    peer_page = admin_client.get("/admin/sbcrules/peer/").content.decode()
    assert "Udp" not in peer_page

