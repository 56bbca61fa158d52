"""Two web processes (gunicorn) and two Celery workers on one PostgreSQL (or SQLite) and Redis.

A rule changed through one web process is used by the other's route look-ups without a
restart, and call events posted through both reach a local sink exactly once each.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import Sink, free_port, start_worker, wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
EVENTS = 200


def start_web(env: dict[str, str], port: int) -> subprocess.Popen:
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    web_env = {**env, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1", "WEB_THREADS": "4", "API_RATE_USER": "100000/min"}
    proc = subprocess.Popen(
        [gunicorn, "-c", "telecomx/gunicorn.conf.py", "telecomx.wsgi"],
        cwd=ROOT, env=web_env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    assert wait_for(lambda: _listening(port), 30), "gunicorn did not start"
    return proc


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def call(port: int, token: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def cluster(sink: Sink, env: dict[str, str]) -> Iterator[tuple[dict, list[int]]]:
    out = subprocess.run([sys.executable, "-m", "tests.scaleout_driver", str(sink.server_address[1])], cwd=ROOT, env=env,
                         check=True, capture_output=True, text=True, timeout=120)
    setup = json.loads(out.stdout.strip().splitlines()[-1])
    ports = [free_port(), free_port()]
    processes = [start_web(env, port) for port in ports]
    processes += [start_worker(env, "one"), start_worker(env, "two")]
    try:
        yield setup, ports
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def test_two_web_processes_and_two_workers(cluster, sink: Sink) -> None:
    setup, (web_a, web_b) = cluster
    token, route = setup["token"], "/api/sbc/route?bnumber=%2B4570305050"

    # B has built its index (default peer) before A changes the rules.
    assert call(web_b, token, "GET", route) == (200, {
        "peer": "TDC", "rule": None, "reason": "default", "chain": ["TDC"],
        "targets": [{"peer": "TDC", "host": "192.0.2.1", "port": 5060, "transport": "udp"}],
    })
    status, rule = call(web_a, token, "POST", "/api/sbc/rule", {"type": "PREFIX", "condition": "+4570", "peer": "TELENOR"})
    assert status == 201
    assert wait_for(lambda: call(web_b, token, "GET", route)[1]["peer"] == "TELENOR", 5), "B never saw A's rule"
    assert call(web_b, token, "GET", route)[1]["rule"] == {"_id": rule["_id"], "type": "PREFIX", "condition": "+4570"}

    event_ids = set()
    for n in range(EVENTS):
        status, body = call((web_a, web_b)[n % 2], token, "POST", "/api/callevent", {
            "callId": f"scale-{n}", "customer": setup["customer"], "type": "SIP", "direction": "OUTBOUND",
            "state": "RINGING", "aNumber": "+4512345678", "bNumber": "+4570305050", "timestamp": "2026-11-22T10:15:00Z",
        })
        assert (status, body["deliveries"]) == (202, 1)
        event_ids.add(body["_id"])

    assert wait_for(lambda: set(sink.received) == event_ids, 90), f"{len(sink.received)} of {EVENTS} arrived"
    time.sleep(2)  # anything delivered twice would arrive by now
    assert set(sink.received.values()) == {1}, "an event arrived more than once"
