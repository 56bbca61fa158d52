"""SBC rules over the API (docs/api.md §6): create, read, update, delete, and every documented error."""

from __future__ import annotations

import pytest

from accounts.models import AccessLevel
from sbcrules.models import Rule
from tests.accounts.factories import CustomerFactory, EmployeeFactory
from tests.sbcrules.factories import DkOperatorFactory, PeerFactory, RuleFactory
from tests.errorbody import error

pytestmark = pytest.mark.django_db

URL = "/api/sbc/rule"


@pytest.fixture
def peer():
    return PeerFactory(id="TELENOR")


def test_create_answers_201_with_the_rule_and_stores_it(admin, peer):
    response = admin.post(URL, {"type": "PREFIX", "condition": "+4570", "peer": "telenor", "note": "DK"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body == {"_id": body["_id"], "type": "PREFIX", "condition": "+4570", "peer": "TELENOR", "note": "DK"}
    rule = Rule.objects.get()
    assert (rule.id, rule.type, rule.condition, rule.peer_id, rule.note) == (body["_id"], "PREFIX", "+4570", "TELENOR", "DK")


def test_customer_condition_is_stored_in_lower_case_so_case_cannot_duplicate(admin, peer):
    customer = CustomerFactory()
    response = admin.post(URL, {"type": "CUSTOMER", "condition": customer.id.upper(), "peer": "TELENOR"}, format="json")
    assert response.status_code == 201
    assert response.json()["condition"] == customer.id
    again = admin.post(URL, {"type": "CUSTOMER", "condition": customer.id, "peer": "TELENOR"}, format="json")
    assert again.status_code == 409
    assert again.json() == error(409, "rule", "Rule already exists")


def test_every_type_with_a_good_condition_is_accepted(admin, peer):
    customer = CustomerFactory()
    DkOperatorFactory(id="01011")
    for rule_type, condition in [("PREFIX", "+4"), ("ANUMBER", "+4512345678"), ("CUSTOMER", customer.id), ("DKCPS", "01011")]:
        response = admin.post(URL, {"type": rule_type, "condition": condition, "peer": "TELENOR", "note": None}, format="json")
        assert response.status_code == 201, response.json()
        assert response.json()["note"] == ""
    assert Rule.objects.count() == 4


def _long(n: int) -> str:
    return "+" + "1" * n


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({"condition": "+45", "peer": "TELENOR"}, 422, "type", "Type is invalid"),
        ({"type": "SUFFIX", "condition": "+45", "peer": "TELENOR"}, 422, "type", "Type is invalid"),
        ({"type": 5, "condition": "+45", "peer": "TELENOR"}, 422, "type", "Type is invalid"),
        ({"type": "prefix", "condition": "+45", "peer": "TELENOR"}, 422, "type", "Type is invalid"),
        ({"type": "PREFIX", "peer": "TELENOR"}, 422, "condition", "Condition is invalid"),
        ({"type": "PREFIX", "condition": 4570, "peer": "TELENOR"}, 422, "condition", "Condition is invalid"),
        ({"type": "PREFIX", "condition": None, "peer": "TELENOR"}, 422, "condition", "Condition is invalid"),
        ({"type": "PREFIX", "condition": "", "peer": "TELENOR"}, 422, "condition", "Condition is invalid"),
        ({"type": "PREFIX", "condition": "4570", "peer": "TELENOR"}, 422, "condition", "Prefix is invalid"),
        ({"type": "PREFIX", "condition": "+", "peer": "TELENOR"}, 422, "condition", "Prefix is invalid"),
        ({"type": "PREFIX", "condition": "+45 70", "peer": "TELENOR"}, 422, "condition", "Prefix is invalid"),
        ({"type": "PREFIX", "condition": _long(16), "peer": "TELENOR"}, 422, "condition", "Prefix is invalid"),
        ({"type": "PREFIX", "condition": _long(80), "peer": "TELENOR"}, 422, "condition", "Prefix is invalid"),
        ({"type": "ANUMBER", "condition": "+4512", "peer": "TELENOR"}, 422, "condition", "Condition is invalid"),
        ({"type": "ANUMBER", "condition": "4512345678", "peer": "TELENOR"}, 422, "condition", "Condition is invalid"),
        ({"type": "CUSTOMER", "condition": "acme", "peer": "TELENOR"}, 422, "condition", "Condition is invalid"),
        ({"type": "CUSTOMER", "condition": "0" * 24, "peer": "TELENOR"}, 422, "condition", "Customer not found"),
        ({"type": "DKCPS", "condition": "1011", "peer": "TELENOR"}, 422, "condition", "Condition is invalid"),
        ({"type": "DKCPS", "condition": "99999", "peer": "TELENOR"}, 422, "condition", "CPS not found"),
        ({"type": "PREFIX", "condition": "+45"}, 422, "peer", "Peer is invalid"),
        ({"type": "PREFIX", "condition": "+45", "peer": 7}, 422, "peer", "Peer is invalid"),
        ({"type": "PREFIX", "condition": "+45", "peer": "no such!"}, 422, "peer", "Peer is invalid"),
        ({"type": "PREFIX", "condition": "+45", "peer": "TDC"}, 404, "peer", "Peer not found"),
        ({"type": "PREFIX", "condition": "+45", "peer": "TELENOR", "note": "x" * 1001}, 422, "note", "Note is invalid"),
    ],
)
def test_create_refuses_with_the_documented_error(admin, peer, body, status, code, message):
    response = admin.post(URL, body, format="json")
    assert response.status_code == status
    assert response.json() == error(status, code, message, path=code if status == 422 or code == "peer" else None)
    assert not Rule.objects.exists()


def test_a_duplicate_rule_is_a_409(admin, peer):
    RuleFactory(type="PREFIX", condition="+45", peer=peer)
    response = admin.post(URL, {"type": "PREFIX", "condition": "+45", "peer": "TELENOR"}, format="json")
    assert response.status_code == 409
    assert response.json() == error(409, "rule", "Rule already exists")
    assert Rule.objects.count() == 1


def test_several_failures_are_reported_together(admin, peer):
    response = admin.post(URL, {"type": "X", "condition": 1, "peer": 2}, format="json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "multiple"
    assert [(e["code"], e["message"]) for e in response.json()["error"]["inner"]] == [
        ("type", "Type is invalid"), ("condition", "Condition is invalid"), ("peer", "Peer is invalid"),
    ]


def test_an_unknown_peer_waits_until_the_rest_is_valid(admin, peer):
    response = admin.post(URL, {"type": "PREFIX", "condition": "45", "peer": "TDC"}, format="json")
    assert response.json() == error(422, "condition", "Prefix is invalid", path="condition")


def test_list_is_a_plain_array_optionally_of_one_type(admin, peer, django_assert_max_num_queries):
    prefix = RuleFactory(type="PREFIX", condition="+45", peer=peer)
    anumber = RuleFactory(type="ANUMBER", condition="+4512345678", peer=peer)
    with django_assert_max_num_queries(3):
        response = admin.get(URL)
    assert [r["_id"] for r in response.json()] == sorted([prefix.id, anumber.id])
    assert [r["_id"] for r in admin.get(URL, {"type": "ANUMBER"}).json()] == [anumber.id]
    assert admin.get(URL, {"type": "BOGUS"}).json() == error(422, "type", "Type is invalid", path="type")


def test_get_update_and_delete_one_rule(admin, peer):
    other = PeerFactory(id="TDC")
    rule = RuleFactory(type="PREFIX", condition="+45", peer=peer, note="old")
    assert admin.get(f"{URL}/{rule.id.upper()}").json()["condition"] == "+45"
    response = admin.post(f"{URL}/{rule.id}", {"peer": "tdc"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"_id": rule.id, "type": "PREFIX", "condition": "+45", "peer": "TDC", "note": "old"}
    response = admin.patch(f"{URL}/{rule.id}", {"condition": "+4570", "type": "PREFIX"}, format="json")
    assert response.json()["condition"] == "+4570"
    rule.refresh_from_db()
    assert (rule.condition, rule.peer_id, rule.note) == ("+4570", other.id, "old")
    assert admin.delete(f"{URL}/{rule.id}").json() == {"success": True}
    assert not Rule.objects.exists()


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({"type": "ANUMBER"}, 422, "type", "Type is invalid"),
        ({"condition": "+45x"}, 422, "condition", "Prefix is invalid"),
        ({"condition": None}, 422, "condition", "Condition is invalid"),
        ({"peer": "NOPE"}, 404, "peer", "Peer not found"),
        ({"peer": None}, 422, "peer", "Peer is invalid"),
        ({"condition": "+46"}, 409, "rule", "Rule already exists"),
    ],
)
def test_update_refuses_with_the_documented_error(admin, peer, body, status, code, message):
    RuleFactory(type="PREFIX", condition="+46", peer=peer)
    rule = RuleFactory(type="PREFIX", condition="+45", peer=peer)
    response = admin.patch(f"{URL}/{rule.id}", body, format="json")
    assert response.status_code == status
    assert response.json() == error(status, code, message, path=code if status == 422 or code == "peer" else None)
    rule.refresh_from_db()
    assert (rule.type, rule.condition, rule.peer_id) == ("PREFIX", "+45", "TELENOR")


@pytest.mark.parametrize("rule_id", ["0" * 24, "not-an-id"])
@pytest.mark.parametrize("method", ["get", "post", "patch", "delete"])
def test_an_unknown_rule_is_not_found(admin, rule_id, method):
    response = getattr(admin, method)(f"{URL}/{rule_id}", {}, format="json")
    assert response.status_code == 404
    assert response.json() == error(404, "id", "Rule not found")


# --- what a reseller may route (docs/api.md §3 [decided]; docs/api.md "SBC rules") ---

DENIED = error(403, "access_denied", "Insufficient access level")


@pytest.fixture
def reseller(client_for):
    """A RESELLER_ADMIN with FINANCE, with a customer of its own and a sub-reseller's customer."""
    top = CustomerFactory(reseller=True, features=["FINANCE"])
    own = CustomerFactory(parent_reseller=top)
    deeper = CustomerFactory(parent_reseller=CustomerFactory(reseller=True, parent_reseller=top))
    client = client_for(EmployeeFactory(access_level=AccessLevel.RESELLER_ADMIN, customer=top))
    return client, own, deeper


def test_a_reseller_routes_the_customers_it_reaches(reseller, peer):
    client, own, deeper = reseller
    for customer in (own, deeper):
        response = client.post(URL, {"type": "CUSTOMER", "condition": customer.id, "peer": "TELENOR"}, format="json")
        assert response.status_code == 201, response.json()
    rule = Rule.objects.get(condition=own.id)
    assert client.patch(f"{URL}/{rule.id}", {"note": "ours"}, format="json").status_code == 200
    assert client.delete(f"{URL}/{rule.id}").status_code == 200


@pytest.mark.parametrize("extra", [{}, {"peer": "NOPE", "note": 5}])  # alone, and among other errors
def test_another_resellers_customer_is_answered_exactly_like_an_unknown_one(reseller, peer, extra):
    client, _own, _deeper = reseller
    foreign = CustomerFactory(parent_reseller=CustomerFactory(reseller=True))
    answers = [client.post(URL, {"type": "CUSTOMER", "condition": condition, "peer": "TELENOR", **extra}, format="json")
               for condition in (foreign.id, "0" * 24)]
    assert answers[0].status_code == answers[1].status_code == 422
    assert answers[0].json() == answers[1].json()
    assert "Customer not found" in str(answers[0].json())
    assert not Rule.objects.exists()


def test_a_reseller_cannot_repoint_its_rule_at_a_foreign_customer(reseller, peer):
    client, own, _deeper = reseller
    rule = RuleFactory(type="CUSTOMER", condition=own.id, peer=peer)
    foreign = CustomerFactory()
    response = client.patch(f"{URL}/{rule.id}", {"condition": foreign.id}, format="json")
    assert (response.status_code, response.json()) == (422, error(422, "condition", "Customer not found", path="condition"))
    assert Rule.objects.get().condition == own.id


@pytest.mark.parametrize(("rule_type", "condition"), [("PREFIX", "+45"), ("ANUMBER", "+4512345678"), ("DKCPS", "01011")])
def test_a_reseller_with_finance_writes_every_rule_type(reseller, peer, rule_type, condition):
    """The published rule pages: "RESELLER_ADMIN with FINANCE feature, or ADMIN", whatever the type."""
    client, _own, _deeper = reseller
    DkOperatorFactory(id="01011")
    response = client.post(URL, {"type": rule_type, "condition": condition, "peer": "telenor"}, format="json")
    rule = Rule.objects.get()
    assert (response.status_code, response.json()) == (201, {"_id": rule.id, "type": rule_type, "condition": condition,
                                                              "peer": "TELENOR", "note": ""})
    for method, note in (("post", "by post"), ("patch", "by patch")):
        response = getattr(client, method)(f"{URL}/{rule.id}", {"note": note}, format="json")
        assert (response.status_code, response.json()["note"]) == (200, note)
        rule.refresh_from_db()
        assert rule.note == note
    response = client.delete(f"{URL}/{rule.id}")
    assert (response.status_code, response.json()) == (200, {"success": True})
    assert not Rule.objects.exists()


def test_a_reseller_sees_no_customer_rule_of_customers_out_of_its_reach(reseller, peer):
    client, own, _deeper = reseller
    mine = RuleFactory(type="CUSTOMER", condition=own.id, peer=peer)
    theirs = RuleFactory(type="CUSTOMER", condition=CustomerFactory().id, peer=peer)
    wide = RuleFactory(type="PREFIX", condition="+45", peer=peer)
    assert {r["_id"] for r in client.get(URL).json()} == {mine.id, wide.id}
    for method in ("get", "patch", "delete"):
        response = getattr(client, method)(f"{URL}/{theirs.id}", {"note": "x"}, format="json")
        assert (response.status_code, response.json()) == (404, error(404, "id", "Rule not found"))


def test_a_resellers_etag_changes_when_its_tree_changes(reseller, peer):
    """The 304 must not hide a CUSTOMER rule that came into (or went out of) the reseller's reach."""
    from accounts.models import Customer

    client, own, deeper = reseller
    foreign = CustomerFactory(parent_reseller=CustomerFactory(reseller=True))
    RuleFactory(type="CUSTOMER", condition=foreign.id, peer=peer)
    etag = client.get(URL)["ETag"]
    assert client.get(URL, HTTP_IF_NONE_MATCH=etag).status_code == 304
    for change in (
        lambda: Customer.objects.filter(pk=foreign.pk).update(parent_reseller=own.parent_reseller),  # moved in
        lambda: CustomerFactory(parent_reseller=own.parent_reseller),  # added
        lambda: Customer.objects.filter(pk=deeper.pk).update(state=Customer.State.DELETED),  # deleted
    ):
        change()
        again = client.get(URL, HTTP_IF_NONE_MATCH=etag)
        assert again.status_code == 200 and again["ETag"] != etag
        etag = again["ETag"]
    assert [rule["condition"] for rule in client.get(URL).json()] == [foreign.id]


@pytest.mark.parametrize("header", ["W/{etag}", "{etag}", '"other", {etag}', '"other",W/{etag}', "*"])
def test_if_none_match_compares_weakly_with_lists_and_star(admin, peer, header):
    etag = admin.get(URL)["ETag"]
    response = admin.get(URL, HTTP_IF_NONE_MATCH=header.format(etag=etag))
    assert (response.status_code, response["ETag"]) == (304, etag)
    assert admin.get(URL, HTTP_IF_NONE_MATCH='W/"other"').status_code == 200

