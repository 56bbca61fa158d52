"""The OpenAPI schema generates without warnings, validates, and describes the real bodies."""

from __future__ import annotations

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
