"""What production relies on: body size limit, rate limits, the health check, the request log."""

from __future__ import annotations

import json
import logging

import pytest

from accounts.models import AccessLevel
from tests.accounts.factories import EmployeeFactory, issue_token
from core import outage
from core.logs import JsonFormatter

pytestmark = pytest.mark.django_db


def test_a_body_over_the_limit_answers_413(client_for, settings):
    settings.API_MAX_BODY_BYTES = 1000
    employee = EmployeeFactory(access_level=AccessLevel.OWNER)
    response = client_for(employee).post(
        f"/api/customer/{employee.customer_id}/callnotify", {"url": "http://8.8.8.8/" + "a" * 1000}, format="json"
    )
    assert (response.status_code, response.json()) == (
        413, {"error": {"code": "too_large", "status": 413, "message": "Request body too large"}}
    )


def test_an_employee_over_the_rate_answers_429(client_for, settings):
    settings.API_RATE_USER = "3/min"
    employee = EmployeeFactory(access_level=AccessLevel.OWNER)
    client = client_for(employee)
    url = f"/api/customer/{employee.customer_id}/callnotify"
    assert [client.get(url).status_code for _ in range(3)] == [200, 200, 200]
    response = client.get(url)
    assert (response.status_code, response.json()) == (
        429, {"error": {"code": "rate_limited", "status": 429, "message": "Too many requests"}}
    )
    assert int(response["Retry-After"]) > 0
    other = EmployeeFactory(access_level=AccessLevel.OWNER)
    assert client_for(other).get(f"/api/customer/{other.customer_id}/callnotify").status_code == 200


def test_health_without_a_broker(api_client, settings):
    settings.CELERY_BROKER_URL = ""
    response = api_client.get("/api/health")
    body = response.json()
    assert (response.status_code, body) == (200, {"status": "ok", "database": "ok", "cache": "not configured",
                                                  "broker": "not configured", "indexAgeSeconds": body["indexAgeSeconds"]})


def test_health_stays_ready_with_an_unreachable_broker(api_client, settings):
    """A node whose broker is away still routes: ready (200), and the body says which dependency is down."""
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"  # nothing listens on port 9
    outage.broker.close()
    try:
        response = api_client.get("/api/health/ready")
        body = response.json()
        assert (response.status_code, body["status"], body["database"], body["broker"]) == (200, "ok", "ok", "down")
        assert api_client.get("/api/health/live").json() == {"status": "ok"}
    finally:
        outage.broker.close()


def test_request_log_names_the_employee_and_never_the_token(api_client, caplog):
    employee = EmployeeFactory(access_level=AccessLevel.OWNER)
    token = issue_token(employee)
    with caplog.at_level(logging.INFO, logger="telecomx.requests"):
        api_client.get(f"/api/customer/{employee.customer_id}/callnotify", HTTP_AUTHORIZATION=f"Bearer {token}")
        api_client.get("/api/auth/validateToken", {"token": token})
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "telecomx.requests"]
    assert lines[0]["employee"] == employee.pk and lines[0]["status"] == 200 and lines[0]["method"] == "GET"
    assert lines[0]["path"] == f"/api/customer/{employee.customer_id}/callnotify"
    assert lines[1]["path"] == "/api/auth/validateToken"
    assert token not in caplog.text


def test_request_log_names_a_key_refused_with_403_and_never_the_key(api_client, caplog):
    """A switch's key used where keys are refused (403): the line says which key, by id and name."""
    from accounts.models import ApiKey

    admin = EmployeeFactory(access_level=AccessLevel.ADMIN)
    key, raw = ApiKey.objects.issue(name="kamailio-1", created_by=admin)
    with caplog.at_level(logging.INFO, logger="telecomx.requests"):
        response = api_client.get(f"/api/customer/{admin.customer_id}/callnotify", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 403
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "telecomx.requests"]
    assert (lines[0]["status"], lines[0]["apiKey"], lines[0]["apiKeyName"]) == (403, key.pk, "kamailio-1")
    assert raw not in caplog.text


def _chunked(method: str, path: str, body: bytes, token: str) -> tuple[int, dict]:
    """A request as gunicorn hands over a chunked one: the decoded body, Transfer-Encoding, no Content-Length."""
    from io import BytesIO
    from wsgiref.util import setup_testing_defaults

    from django.test.client import ClientHandler  # Django's WSGI handling, keeping the test's database connection

    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_TYPE": "application/json",
               "HTTP_TRANSFER_ENCODING": "chunked", "HTTP_AUTHORIZATION": f"Bearer {token}", "wsgi.input": BytesIO(body)}
    setup_testing_defaults(environ)
    environ.pop("CONTENT_LENGTH", None)
    response = ClientHandler(enforce_csrf_checks=False)(environ)
    return response.status_code, json.loads(response.content)


def test_a_chunked_body_is_read_within_the_limit_and_over_it_is_413(settings):
    from callnotify.models import CallNotify
    from tests.callnotify.factories import CallNotifyFactory

    settings.API_MAX_BODY_BYTES = 1000
    employee = EmployeeFactory(access_level=AccessLevel.OWNER)
    item = CallNotifyFactory(customer=employee.customer)
    path = f"/api/customer/{employee.customer_id}/callnotify/{item.id}"
    token = issue_token(employee)
    status, body = _chunked("PATCH", path, json.dumps({"selection": "SIP"}).encode(), token)
    assert (status, body["selection"]) == (200, "SIP")  # the body was read, not ignored
    assert CallNotify.objects.get(pk=item.pk).selection == "SIP"
    status, body = _chunked("PATCH", path, json.dumps({"selection": "MVNO", "pad": "x" * 3000}).encode(), token)
    assert (status, body) == (413, {"error": {"code": "too_large", "status": 413, "message": "Request body too large"}})
    assert CallNotify.objects.get(pk=item.pk).selection == "SIP"
