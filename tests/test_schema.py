"""The OpenAPI schema generates without warnings, validates, and describes the real bodies."""

from __future__ import annotations

import json

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_schema_generates_and_validates(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    item = schema["components"]["schemas"]["CallNotify"]["properties"]
    assert {"_id", "url", "method", "selection", "state"} <= set(item)
    assert item["method"]["allOf"] == [{"$ref": "#/components/schemas/MethodEnum"}]
    assert schema["components"]["schemas"]["MethodEnum"]["enum"] == ["POSTARGS", "POSTXML1", "POSTXML2", "POSTJSON", "GET1", "GET2"]
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert schema["components"]["schemas"]["Error"]["properties"]["error"]["required"] == ["code", "status", "message"]
    operation = schema["paths"]["/api/customer/{customer_id}/callnotify/{id}"]["post"]
    assert operation["operationId"] == "customer_callnotify_update_by_post"
    assert "4XX" in operation["responses"]


def test_schema_and_docs_are_served(client):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content


def _schema() -> dict:
    from tests.schema_validation import published_schema

    return published_schema()


def _nullable(prop: dict) -> bool:
    """OpenAPI 3.1: null is one of the types, or one of the alternatives."""
    kinds = prop.get("type")
    return (isinstance(kinds, list) and "null" in kinds) or any(
        alternative.get("type") == "null" for alternative in prop.get("oneOf", []) + prop.get("anyOf", []))


def test_empty_delivery_values_are_optional_not_required():
    delivery = _schema()["components"]["schemas"]["Delivery"]
    assert set(delivery["required"]) == {"_id", "event", "callId", "eventState", "sequence", "state", "attempts", "createdAt"}
    assert not any(_nullable(prop) for prop in delivery["properties"].values())


def test_secret_is_typed_in_answers_and_never_nullable_there():
    schemas = _schema()["components"]["schemas"]
    assert schemas["CallNotify"]["properties"]["secret"]["type"] == "string"
    assert "secret" not in schemas["CallNotify"].get("required", [])
    assert not _nullable(schemas["Rule"]["properties"]["note"])
    assert _nullable(schemas["RuleRequest"]["properties"]["note"])


def test_closed_sets_are_enums_and_answers_are_typed():
    schemas = _schema()["components"]["schemas"]
    assert schemas["RuleTypeEnum"]["enum"] == ["PREFIX", "ANUMBER", "CUSTOMER", "DKCPS"]
    assert schemas["CallTypeEnum"]["enum"] == ["SIP", "MVNO"]
    assert schemas["CallDirectionEnum"]["enum"] == ["INBOUND", "OUTBOUND"]
    assert schemas["CallStateEnum"]["enum"] == ["RINGING", "ANSWERED", "HANGUP"]
    assert set(schemas["HostState"]["properties"]) == {"host", "down"}
    assert schemas["Error"]["properties"]["error"]["properties"]["inner"]["items"] == {"$ref": "#/components/schemas/ErrorDetail"}
    paths = _schema()["paths"]
    for path, method in [("/api/sbc/route", "get"), ("/api/dk/number", "get"), ("/api/dk/number/{number}", "get"),
                         ("/api/dk/number/{number}", "post"), ("/api/metrics", "get")]:
        body = paths[path][method]["responses"]["200"]["content"]["application/json"]["schema"]
        assert "$ref" in body, (path, method, body)
    route = schemas["RouteAnswer"]
    assert set(route["required"]) == {"peer", "rule", "reason", "chain", "targets"}


def test_the_validator_refuses_an_answer_the_schema_does_not_describe():
    """The shared clients' check is real: a missing required field and an undeclared one both fail."""
    from django.http import JsonResponse

    from tests.schema_validation import check_response

    rule = {"_id": "6b04345a496018b8fabbb326", "type": "PREFIX", "condition": "+45", "peer": "TDC", "note": ""}
    check_response("GET", "/api/sbc/rule/6b04345a496018b8fabbb326", JsonResponse(rule))
    for broken in ({k: v for k, v in rule.items() if k != "peer"}, {**rule, "extra": 1}, {**rule, "type": "OTHER"},
                   {**rule, "note": None}):
        with pytest.raises(AssertionError, match="contradicts the schema"):
            check_response("GET", "/api/sbc/rule/6b04345a496018b8fabbb326", JsonResponse(broken))
    with pytest.raises(AssertionError, match="contradicts the schema"):
        check_response("GET", "/api/nowhere", JsonResponse({"error": {"code": "x"}}, status=404))


def test_the_validator_refuses_an_error_whose_code_or_message_is_undocumented():
    """Every error a test provokes must be documented by its operation, code and message text."""
    from django.http import JsonResponse

    from tests.schema_validation import check_response

    def error(status: int, code: str, message: str) -> JsonResponse:
        return JsonResponse({"error": {"code": code, "status": status, "message": message}}, status=status)

    rule = "/api/sbc/rule/6b04345a496018b8fabbb326"
    check_response("GET", rule, error(404, "id", "Rule not found"))
    with pytest.raises(AssertionError, match="error code 'peer' is not among"):
        check_response("GET", rule, error(404, "peer", "Rule not found"))
    with pytest.raises(AssertionError, match="error message 'Rule is gone' is not among"):
        check_response("GET", rule, error(404, "id", "Rule is gone"))
    # A message whose words vary with the input is documented by one of its kind (limit's for offset's).
    check_response("GET", "/api/sbc/rule", error(400, "bad_request", "offset must be a whole number from 0 to 1000000000"))
    with pytest.raises(AssertionError, match="error message"):
        check_response("GET", "/api/sbc/rule", error(400, "bad_request", "offset must be odd"))


def _operations():
    for path, item in _schema()["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_every_operation_is_documented_for_clients():
    """Each view documents its operations (core.docs.documented): a description, examples, its errors."""
    for path, method, operation in _operations():
        errors = [status for status in operation["responses"] if status[0] in "4" and status != "4XX"]
        assert errors or not operation.get("security"), (path, method, "no documented error")
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        assert body is None or body.get("examples"), (path, method, "request example")
        success = [r for status, r in operation["responses"].items() if status.startswith("2")]
        assert success and all(r["content"]["application/json"].get("examples") for r in success), (path, method)
        assert operation["description"]


def _examples():
    for path, method, operation in _operations():
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body:
            for name, example in body["examples"].items():
                yield f"{method} {path} request {name}", body["schema"], example["value"]
        for status, response in operation["responses"].items():
            media = response.get("content", {}).get("application/json", {})
            for name, example in media.get("examples", {}).items():
                yield f"{method} {path} {status} {name}", media["schema"], example["value"]


def test_every_example_fits_its_own_schema():
    import jsonschema

    from tests.schema_validation import _strict

    components = _strict(_schema()["components"])
    checked = 0
    for where, schema, value in _examples():
        validator = jsonschema.Draft202012Validator({**_strict(schema), "components": components})
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(value)]
        assert not errors, (where, errors)
        checked += 1
    assert checked > 300


def test_no_description_points_at_documents_a_client_cannot_read():
    text = json.dumps(_schema())
    for needle in (".md", "§", "../" + "shared", "full_clean", "Model."):
        assert needle not in text, needle


def test_properties_every_answer_carries_are_required_in_answers_only():
    schemas = _schema()["components"]["schemas"]
    assert schemas["Rule"]["required"] == ["_id", "type", "condition", "peer", "note"]
    assert "failoverPeerId" not in schemas["Peer"]["required"] and "hosts" in schemas["Peer"]["required"]
    assert schemas["PatchedRuleRequest"].get("required") is None
    assert "secret" not in schemas["CallNotify"]["required"]
