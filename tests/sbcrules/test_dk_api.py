"""DK operators and number portability data over the API (docs/api.md §8)."""

from __future__ import annotations

import pytest

from sbcrules.models import DkOperator, PortedNumber
from tests.sbcrules.factories import DkOperatorFactory, NumberRangeFactory, PortedNumberFactory
from tests.errorbody import error

pytestmark = pytest.mark.django_db


def test_operators_are_paged_and_filtered(admin, django_assert_max_num_queries):
    for code, name in [("01011", "TDC A/S"), ("01020", "Telenor A/S"), ("01030", "Telia Danmark")]:
        DkOperatorFactory(id=code, name=name)
    with django_assert_max_num_queries(3):
        body = admin.get("/api/dk/operator", {"limit": 2}).json()
    assert body == {"offset": 0, "limit": 2, "total": 3, "operators": [
        {"_id": "01011", "name": "TDC A/S", "address": ""}, {"_id": "01020", "name": "Telenor A/S", "address": ""},
    ]}
    assert [o["_id"] for o in admin.get("/api/dk/operator", {"filter": "telia"}).json()["operators"]] == ["01030"]
    assert [o["_id"] for o in admin.get("/api/dk/operator", {"filter": "0102"}).json()["operators"]] == ["01020"]
    assert admin.get("/api/dk/operator", {"limit": 501}).status_code == 400
    assert admin.get("/api/dk/operator", {"offset": "x"}).json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize("path", ["/api/dk/operator", "/api/dk/number"])
@pytest.mark.parametrize("offset", ["9" * 30, "-1", "+1", " 1"])
def test_an_offset_no_page_can_have_is_a_bad_request(admin, path, offset):
    response = admin.get(path, {"offset": offset})
    assert (response.status_code, response.json()) == (400, error(400, "bad_request", "offset must be a whole number from 0 to 1000000000", "offset"))


def test_create_get_and_update_an_operator(admin):
    response = admin.post("/api/dk/operator", {"_id": "01011", "name": "TDC", "address": "Teglholmsgade 1"}, format="json")
    assert response.status_code == 201
    assert response.json() == {"_id": "01011", "name": "TDC", "address": "Teglholmsgade 1"}
    assert admin.patch("/api/dk/operator/01011", {"name": "TDC NET", "_id": "02222"}, format="json").json()["name"] == "TDC NET"
    assert list(DkOperator.objects.values_list("id", "name")) == [("01011", "TDC NET")]
    assert admin.delete("/api/dk/operator/01011").status_code == 405


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({"name": "X"}, 422, "id", "5-digit operator code"),
        ({"_id": "1011", "name": "X"}, 422, "id", "5-digit operator code"),
        ({"_id": "010111", "name": "X"}, 422, "id", "5-digit operator code"),
        ({"_id": 1011, "name": "X"}, 422, "id", "5-digit operator code"),
        ({"_id": "01012"}, 422, "name", "Name is invalid"),
        ({"_id": "01011", "name": "X"}, 409, "id", "Operator already exists"),
    ],
)
def test_operator_errors(admin, body, status, code, message):
    DkOperatorFactory(id="01011", name="TDC")
    response = admin.post("/api/dk/operator", body, format="json")
    assert response.json() == error(status, code, message, "_id" if code in ("_id", "id") else code)
    assert list(DkOperator.objects.values_list("id", "name")) == [("01011", "TDC")]


def test_unknown_operator_is_not_found(admin):
    assert admin.get("/api/dk/operator/09999").json() == error(404, "id", "Operator not found")


def test_number_answers_its_serving_operator(admin):
    NumberRangeFactory(prefix="+4570", operator=DkOperatorFactory(id="01011"))
    PortedNumberFactory(number="+4570305050", operator=DkOperatorFactory(id="01020"))
    assert admin.get("/api/dk/number/+4570305050").json() == {"number": "+4570305050", "operator": "01020", "ported": True}
    assert admin.get("/api/dk/number/70305051").json() == {"number": "+4570305051", "operator": "01011", "ported": False}
    assert admin.get("/api/dk/number/+4533333333").json() == error(404, "number", "Number not found")
    assert admin.get("/api/dk/number", {"limit": 10}).json() == {
        "offset": 0, "limit": 10, "total": 1, "numbers": [{"number": "+4570305050", "operator": "01020", "ported": True}],
    }


def test_correcting_a_number_sets_its_operator(admin):
    NumberRangeFactory(prefix="+4570", operator=DkOperatorFactory(id="01011"))
    PortedNumberFactory(number="+4570305050", operator=DkOperatorFactory(id="01020"))
    response = admin.post("/api/dk/number/+4570305050?operator=01011")
    assert response.json() == {"number": "+4570305050", "operator": "01011", "ported": True}
    # a number in a held range, not ported yet, becomes ported
    assert admin.post("/api/dk/number/4570111111?operator=01020").json()["operator"] == "01020"
    assert dict(PortedNumber.objects.values_list("number", "operator_id")) == {"+4570305050": "01011", "+4570111111": "01020"}


@pytest.mark.parametrize(
    ("path", "status", "code", "message"),
    [
        ("+4570305050", 422, "operator", "Operator is not valid"),
        ("+4570305050?operator=1011", 422, "operator", "Operator is not valid"),
        ("+4570305050?operator=09999", 422, "operator", "Operator is not valid"),
        ("+4533333333?operator=01011", 404, "number", "Number not found"),
        ("garbage?operator=01011", 404, "number", "Number not found"),
    ],
)
def test_number_correction_errors(admin, path, status, code, message):
    NumberRangeFactory(prefix="+4570", operator=DkOperatorFactory(id="01011"))
    PortedNumberFactory(number="+4570305050", operator=DkOperatorFactory(id="01020"))
    response = admin.post(f"/api/dk/number/{path}")
    assert response.json() == error(status, code, message, code if status == 422 else None)
    assert dict(PortedNumber.objects.values_list("number", "operator_id")) == {"+4570305050": "01020"}
