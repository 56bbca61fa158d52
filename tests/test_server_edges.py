"""What answers before or around Django (issue 8, item 6): gunicorn's own errors and `/api` itself
in the JSON error body, and a malformed setting refused at start-up, naming its variable."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_api_without_a_slash_answers_the_json_404(api_client):
    response = api_client.get("/api")
    assert (response.status_code, response.json()) == (
        404, {"error": {"code": "not_found", "status": 404, "message": "No route GET /api"}})


@pytest.fixture
def gunicorn(tmp_path) -> Iterator[int]:
    """The production server with the project's configuration, on an ephemeral port of 127.0.0.1."""
    env = {**os.environ, "TELECOMX_DATA_DIR": str(tmp_path), "BIND": "127.0.0.1:0", "WEB_CONCURRENCY": "1",
           "CALLNOTIFY_IN_PROCESS": "off", "CELERY_BROKER_URL": ""}
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "telecomx/gunicorn.conf.py", "telecomx.wsgi"],
                                  cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = log.read_text()
            found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", text)
            if found and "Booting worker" in text:
                yield int(found.group(1))
                return
            assert server.poll() is None, text
            time.sleep(0.1)
        pytest.fail("gunicorn did not start: " + log.read_text())
    finally:
        server.terminate()
        server.wait(20)


def test_gunicorn_answers_an_over_long_request_line_in_the_json_error_body(gunicorn):
    connection = http.client.HTTPConnection("127.0.0.1", gunicorn, timeout=10)
    connection.request("GET", "/api/" + "a" * 5000)
    response = connection.getresponse()
    assert response.status == 414
    assert response.getheader("Content-Type") == "application/json"
    assert json.loads(response.read()) == {"error": {"code": "too_large", "status": 414, "message": "URI Too Long"}}
    connection.close()


@pytest.mark.parametrize("value", ["10.0.0.0/8,not-a-cidr", "300.1.1.0/24", "10.0.0.0/33"])
def test_a_malformed_allowed_network_stops_the_process_at_start_up_naming_the_variable(value):
    env = {**os.environ, "CALLNOTIFY_ALLOWED_NETWORKS": value}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "CALLNOTIFY_ALLOWED_NETWORKS" in result.stderr and value.split(",")[-1] in result.stderr
