"""Opt-in paging of the plain-array lists (rules, peers, call notify items) and the rule list's
`?peer=` filter: without paging parameters nothing changes."""

from __future__ import annotations

import pytest

from accounts.models import AccessLevel
from sbcrules.models import Rule
from tests.accounts.factories import CustomerFactory, EmployeeFactory
from tests.callnotify.factories import CallNotifyFactory
from tests.errorbody import error
from tests.sbcrules.factories import PeerFactory, RuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(client_for):
    return client_for(EmployeeFactory(admin=True))


@pytest.fixture
def rules():
    tdc, telia = PeerFactory(id="TDC"), PeerFactory(id="TELIA")
    made = [RuleFactory(condition=f"+45{n}", peer=tdc if n % 2 else telia) for n in range(7)]
    return sorted(rule.id for rule in made)


def test_without_paging_parameters_the_whole_array_comes_without_paging_headers(admin, rules):
    response = admin.get("/api/sbc/rule")
    assert [rule["_id"] for rule in response.json()] == rules
    assert "X-Total-Count" not in response and "Link" not in response


def test_a_page_is_a_plain_array_with_the_total_and_links(admin, rules):
    response = admin.get("/api/sbc/rule", {"offset": "2", "limit": "3"})
    assert [rule["_id"] for rule in response.json()] == rules[2:5]
    assert response["X-Total-Count"] == "7"
    assert response["Link"] == (
        '<http://testserver/api/sbc/rule?offset=5&limit=3>; rel="next", '
        '<http://testserver/api/sbc/rule?offset=0&limit=3>; rel="prev"'
    )


def test_first_and_last_pages_link_only_where_there_is_a_page(admin, rules):
    first = admin.get("/api/sbc/rule", {"limit": "5"})
    assert [r["_id"] for r in first.json()] == rules[:5]
    assert first["Link"] == '<http://testserver/api/sbc/rule?limit=5&offset=5>; rel="next"'
    last = admin.get("/api/sbc/rule", {"offset": "5"})
    assert [r["_id"] for r in last.json()] == rules[5:]
    assert last["Link"] == '<http://testserver/api/sbc/rule?offset=0&limit=100>; rel="prev"'
    beyond = admin.get("/api/sbc/rule", {"offset": "50", "limit": "5"})
    assert beyond.json() == [] and beyond["X-Total-Count"] == "7"
    assert beyond["Link"] == '<http://testserver/api/sbc/rule?offset=2&limit=5>; rel="prev"'


def test_links_keep_the_filters(admin, rules):
    response = admin.get("/api/sbc/rule", {"type": "PREFIX", "peer": "tdc", "limit": "1"})
    assert response["X-Total-Count"] == "3"
    assert response["Link"] == '<http://testserver/api/sbc/rule?type=PREFIX&peer=tdc&limit=1&offset=1>; rel="next"'


def test_rules_filter_by_peer_in_any_case(admin, rules):
    expected = sorted(Rule.objects.filter(peer_id="TELIA").values_list("id", flat=True))
    assert [r["_id"] for r in admin.get("/api/sbc/rule", {"peer": "telia"}).json()] == expected
    assert len(expected) == 4
    assert admin.get("/api/sbc/rule", {"peer": "NOBODY"}).json() == []
    bad = admin.get("/api/sbc/rule", {"peer": "no such peer!"})
    assert (bad.status_code, bad.json()) == (400, error(400, "bad_request", "peer must be a peer id", "peer"))


@pytest.mark.parametrize(("name", "value"), [("limit", "0"), ("limit", "501"), ("offset", "-1"), ("limit", "x")])
def test_bad_paging_values_are_bad_requests(admin, rules, name, value):
    response = admin.get("/api/sbc/peer", {name: value})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request" and response.json()["error"]["path"] == name


def test_peers_and_call_notify_items_page_the_same_way(admin, client_for, rules):
    peers = admin.get("/api/sbc/peer", {"limit": "1", "offset": "1"})
    assert [p["_id"] for p in peers.json()] == ["TELIA"] and peers["X-Total-Count"] == "2"
    customer = CustomerFactory()
    items = sorted(CallNotifyFactory(customer=customer).id for _ in range(3))
    CallNotifyFactory()  # another customer's
    owner = client_for(EmployeeFactory(customer=customer, access_level=AccessLevel.OWNER))
    page = owner.get(f"/api/customer/{customer.id}/callnotify", {"limit": "2"})
    assert [i["_id"] for i in page.json()] == items[:2]
    assert page["X-Total-Count"] == "3"
    assert page["Link"] == f'<http://testserver/api/customer/{customer.id}/callnotify?limit=2&offset=2>; rel="next"'


def test_a_page_costs_two_queries_whatever_the_list_size(admin, django_assert_max_num_queries, rules):
    RuleFactory.create_batch(30, peer_id="TDC")
    with django_assert_max_num_queries(5):  # session + count + page (+ auth)
        assert len(admin.get("/api/sbc/rule", {"limit": "10"}).json()) == 10
