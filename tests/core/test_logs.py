"""Request ids and the log format: every line JSON (or text for a terminal) with timestamp,
level, logger, message, the request id and the ids it is about."""

from __future__ import annotations

import json
import logging
import re

import pytest

from core.logs import JsonFormatter, TextFormatter, request_id, safe_request_id
from tests.accounts.factories import EmployeeFactory
from tests.sbcrules.factories import PeerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def lines(caplog):
    """What the JSON formatter writes for every record this test logs."""
    caplog.set_level(logging.INFO)
    formatter = JsonFormatter()
    return lambda: [json.loads(formatter.format(record)) for record in caplog.records]


@pytest.mark.parametrize("value", ["abc", "A-Z_a.z:0@9", "x" * 128, "6b112ee3a525fabb1f42046b"])
def test_a_safe_request_id_is_kept(client_for, value, lines):
    PeerFactory(id="TDC", is_default=True)
    response = client_for(EmployeeFactory()).get("/api/sbc/route", {"bnumber": "+4570305050"}, HTTP_X_REQUEST_ID=value)
    assert response["X-Request-ID"] == value
    [line] = [line for line in lines() if line["logger"] == "telecomx.requests"]
    assert line["requestId"] == value and line["path"] == "/api/sbc/route" and line["status"] in (200, 403)


@pytest.mark.parametrize("value", ["", "x" * 129, "has space", "semi;colon", "new\nline", "ünïcode", "a/b"])
def test_an_unsafe_request_id_is_replaced(client, value, lines):
    response = client.get("/api/health", HTTP_X_REQUEST_ID=value)
    made = response["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert [line["requestId"] for line in lines() if line["logger"] == "telecomx.requests"] == [made]


def test_every_answer_carries_one_even_outside_the_api(client):
    assert re.fullmatch(r"[0-9a-f]{32}", client.get("/admin/login/")["X-Request-ID"])
    assert client.get("/metrics")["X-Request-ID"]


def test_the_event_keeps_the_id_of_the_request_that_brought_it(client_for, settings):
    from callnotify.models import CallEvent
    from tests.callnotify.factories import CallNotifyFactory

    settings.CELERY_BROKER_URL = ""
    endpoint = CallNotifyFactory()
    client = client_for(EmployeeFactory(customer=endpoint.customer, access_level="ADMIN"))
    response = client.post("/api/callevent", {
        "callId": "rid-1", "customer": endpoint.customer_id, "type": "SIP", "direction": "INBOUND", "state": "RINGING",
        "aNumber": "+4512345678", "bNumber": "+4570305050", "timestamp": "2026-11-22T10:15:00Z",
    }, format="json", HTTP_X_REQUEST_ID="switch-7:call-1")
    assert response.status_code == 202, response.content
    assert CallEvent.objects.get(pk=response.json()["_id"]).request_id == "switch-7:call-1"


def test_json_lines_have_the_fields_and_the_ids():
    record = logging.LogRecord("callnotify.delivery", logging.INFO, __file__, 1, "delivery attempt %d: %s", (1, "DELIVERED"), None)
    record.deliveryId, record.eventId = "d1", "e1"
    token = request_id.set("req-1")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert list(line)[:5] == ["timestamp", "level", "logger", "message", "requestId"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["timestamp"])
    assert (line["level"], line["logger"], line["message"], line["requestId"]) == (
        "INFO", "callnotify.delivery", "delivery attempt 1: DELIVERED", "req-1")
    assert (line["deliveryId"], line["eventId"]) == ("d1", "e1")


def test_text_lines_for_a_terminal():
    record = logging.LogRecord("telecomx.requests", logging.WARNING, __file__, 1, "GET /api/x 404", (), None)
    record.requestId, record.status = "req-2", 404
    text = TextFormatter().format(record)
    assert re.fullmatch(r"\S+Z WARNING telecomx.requests \[req-2\] GET /api/x 404 status=404", text)


def test_gunicorn_access_lines_name_the_parts_never_the_query():
    atoms = {"m": "GET", "U": "/api/auth/validateToken", "q": "token=secret-token", "s": "200", "D": "1500",
             "{x-request-id}o": "req-3", "r": "GET /api/auth/validateToken?token=secret-token HTTP/1.1"}
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, "%(m)s %(U)s %(s)s", (atoms,), None)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "GET /api/auth/validateToken 200" and line["requestId"] == "req-3"
    assert (line["method"], line["path"], line["status"], line["durationMs"]) == ("GET", "/api/auth/validateToken", 200, 1.5)
    assert "secret-token" not in json.dumps(line)


def test_safe_request_id_makes_one_when_needed():
    assert safe_request_id("ok-1") == "ok-1"
    assert safe_request_id(None) != safe_request_id(None)


def test_djangos_request_object_is_not_logged_it_holds_the_query_string(lines, settings):
    from django.test import Client

    settings.ALLOWED_HOSTS = ["localhost"]
    Client().get("/api/auth/validateToken?token=a-secret-token", HTTP_HOST="evil.example")  # DisallowedHost: logged by Django
    written = json.dumps(lines())
    assert "django.security.DisallowedHost" in written and "a-secret-token" not in written
