"""The one error body for every failure under /api/ (docs/api.md §2)."""

from __future__ import annotations

import pytest

from accounts.models import AccessLevel
from tests.accounts.factories import EmployeeFactory

pytestmark = pytest.mark.django_db

INTERNAL = {"error": {"code": "internal_error", "status": 500, "message": "<Unspecified>"}}


@pytest.fixture
def client(client_for):
    return client_for(EmployeeFactory(access_level=AccessLevel.ADMIN))


@pytest.mark.parametrize("path", ["/api/nothing/here", "/api/customer", "/api/", "/api/customer/x/callnotify/y/z"])
def test_unknown_routes_answer_not_found(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "status": 404, "message": f"No route GET {path}"}}


def test_unknown_route_without_credentials_is_still_not_found(api_client):
    response = api_client.post("/api/nope")
    assert response.json() == {"error": {"code": "not_found", "status": 404, "message": "No route POST /api/nope"}}


def test_wrong_method(client):
    response = client.delete("/api/auth/login")
    assert response.json() == {
        "error": {"code": "method_not_allowed", "status": 405, "message": 'Method "DELETE" not allowed.'}
    }


def test_malformed_json(client):
    employee_customer = EmployeeFactory().customer_id
    response = client.post(f"/api/customer/{employee_customer}/callnotify", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert response.json()["error"]["message"].startswith("JSON parse error")


def test_wrong_content_type(client):
    response = client.post("/api/auth/login", "username=a", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


@pytest.mark.urls("tests.urls_boom")
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("path", ["/api/boom", "/api/plainboom"])
def test_unexpected_failures_answer_500_without_a_traceback(api_client, settings, debug, path):
    settings.DEBUG = debug
    api_client.raise_request_exception = False
    response = api_client.get(path)
    assert (response.status_code, response.json()) == (500, INTERNAL)
    assert b"secret" not in response.content and b"Traceback" not in response.content


def test_admin_pages_keep_django_errors(client):
    assert client.get("/admin/nothing-here/").status_code in (302, 404)
    assert not client.get("/admin/login/")["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    "body",
    [
        '{"username": "a\\ud800b", "password": "x"}',  # a lone surrogate: not valid Unicode
        '{"username": "a", "password": "\\ud800"}',
        '{"username": "a\\u0000b", "password": "x"}',  # NUL: PostgreSQL text cannot hold it
        '{"a\\ud800": 1}',
        "[" * 100000,  # nested past Python's recursion limit
        '{"username":' * 50000,
    ],
)
def test_unstorable_or_too_deep_json_is_a_bad_request(api_client, body):
    response = api_client.post("/api/auth/login", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert response.json()["error"]["message"].startswith("JSON parse error")


def test_text_the_database_cannot_store_never_reaches_it(client_for):
    employee = EmployeeFactory(access_level=AccessLevel.OWNER)
    response = client_for(employee).post(
        f"/api/customer/{employee.customer_id}/callnotify",
        '{"url": "http://1.1.1.1/\\ud800", "method": "GET1", "selection": "ALL"}',
        content_type="application/json",
    )
    assert response.status_code == 400


def test_nul_in_a_query_parameter_is_a_bad_request(client):
    response = client.get("/api/dk/operator", {"filter": "a\x00b"})
    assert response.json() == {
        "error": {"code": "bad_request", "status": 400, "message": "Query parameters must not contain NUL characters"}
    }
