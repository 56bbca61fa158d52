"""Routing through a database outage and a Redis outage, on a real gunicorn (docs/operations.md,
"When a dependency is down").

The web node reaches PostgreSQL through a proxy this test cuts (the machine's PostgreSQL keeps
running) and uses a redis-server of its own as cache, which the test kills. Counts are exact: no
look-up fails, a write is refused with 503 and accepted when retried, and the event it carried
reaches the customer's endpoint once.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.faults import CuttingProxy, start_redis
from tests.processes import Sink, free_port, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
                       reason="the outage is a PostgreSQL server going away"),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server to run a cache of its own"),
]
ROOT = Path(__file__).resolve().parents[1]
ROUTE = "/api/sbc/route?bnumber=%2B4570305050"
ROUTED = {"peer": "TELENOR", "reason": "prefix", "chain": ["TELENOR"]}
UNAVAILABLE = {"error": {"code": "unavailable", "status": 503, "message": "Service temporarily unavailable"}}


class Client:
    """One kept-alive connection, as a switch holds."""

    def __init__(self, port: int, credential: str) -> None:
        self.port, self.credential = port, credential
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def request(self, method: str, path: str, body: dict | None = None, credential: str | None = None):
        headers = {"Authorization": f"Bearer {credential or self.credential}", "Content-Type": "application/json"}
        try:
            self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = self.conn.getresponse()
        except (ConnectionError, http.client.HTTPException):
            self.conn.close()  # the server closed a kept-alive connection: a switch reconnects
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = self.conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None, response

    def lookups(self, count: int) -> tuple[list[int], set[str | None], list[dict]]:
        statuses, degraded, answers = [], set(), []
        for _ in range(count):
            status, body, response = self.request("GET", ROUTE)
            statuses.append(status)
            degraded.add(response.getheader("Telecomx-Degraded"))
            answers.append({k: body.get(k) for k in ROUTED} if status == 200 else body)
        return statuses, degraded, answers


@pytest.fixture
def node(sink: Sink, database_url: str, tmp_path: Path) -> Iterator[dict]:
    target = urlsplit(database_url)
    proxy = CuttingProxy((target.hostname or "127.0.0.1", target.port or 5432))
    redis_port = free_port()
    redis = start_redis(redis_port)
    base_env = {**os.environ, "DATABASE_URL": database_url, "TELECOMX_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT),
                "CALLNOTIFY_ALLOWED_NETWORKS": "127.0.0.0/8", "CELERY_BROKER_URL": ""}
    out = subprocess.run([sys.executable, "-m", "tests.outage_driver", str(sink.server_address[1])], cwd=ROOT, env=base_env,
                         check=True, capture_output=True, text=True, timeout=120)
    setup = json.loads(out.stdout.strip().splitlines()[-1])
    port = free_port()
    web_env = {
        **base_env, "DATABASE_URL": database_url.replace(f":{target.port or 5432}/", f":{proxy.port}/", 1),
        "CACHE_URL": f"redis://127.0.0.1:{redis_port}/0", "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1",
        "WEB_THREADS": "4", "CALLNOTIFY_IN_PROCESS": "on",
        # Workers recycled every 100-110 requests: the outage's 200 look-ups would meet a fresh worker
        # that knows no key, unless recycling waits for the database (telecomx/gunicorn.conf.py).
        "WEB_MAX_REQUESTS": "100", "CALLNOTIFY_SWEEP_SECONDS": "1", "LOG_LEVEL": "WARNING",
    }
    state = {"redis": redis, "redis_port": redis_port}
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "telecomx/gunicorn.conf.py", "telecomx.wsgi"],
                           cwd=ROOT, env=web_env, start_new_session=True, stdout=subprocess.DEVNULL,
                           stderr=open(tmp_path / "web.log", "wb"))
    try:
        assert wait_for(lambda: _ready(port), 30), "gunicorn did not start: " + (tmp_path / "web.log").read_text()[-2000:]
        state.update(setup, port=port, proxy=proxy)
        yield state
    finally:
        proxy.restore() if proxy.listener is None else None
        # state["redis"]: the Redis outage test starts a new one in place of the one it killed
        for process in (web, state["redis"]):
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        proxy.cut()


def _ready(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        conn.request("GET", "/api/health/live")
        return conn.getresponse().status == 200
    except OSError:
        return False


def _health(port: int, path: str = "/api/health/ready") -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def event(setup: dict, call_id: str) -> dict:
    return {"callId": call_id, "customer": setup["customer"], "type": "SIP", "direction": "OUTBOUND", "state": "RINGING",
            "aNumber": "+4512345678", "bNumber": "+4570305050", "timestamp": "2026-12-03T10:15:00Z"}


def test_routing_and_writes_through_a_database_outage(node: dict, sink: Sink) -> None:
    port, proxy = node["port"], node["proxy"]
    switch, staff = Client(port, node["key"]), Client(port, node["token"])

    # Steady: both credentials verified against the database by this process.
    statuses, degraded, answers = switch.lookups(50)
    assert (set(statuses), degraded, answers[0]) == ({200}, {None}, ROUTED)
    assert staff.lookups(5)[:2] == ([200] * 5, {None})

    proxy.cut()  # PostgreSQL is gone for the web node
    # Each worker's connection listening to credential changes is cut too; until its thread has
    # seen that (milliseconds), a look-up is answered from memory as just before the cut,
    # without the header. Then every look-up meets the outage.
    assert wait_for(lambda: switch.lookups(10)[1] == {"database"}, 10), "the cut was never noticed"

    statuses, degraded, answers = switch.lookups(200)
    assert (statuses.count(200), degraded, answers[-1]) == (200, {"database"}, ROUTED)  # 0 failed look-ups
    assert staff.lookups(5)[:2] == ([200] * 5, {"database"})
    status, ready = _health(port)
    assert (status, ready["status"], ready["database"], ready["cache"]) == (200, "ok", "down", "ok")
    assert _health(port, "/api/health/live") == (200, {"status": "ok"})

    # Writes and everything but look-ups: 503 with Retry-After, nothing stored.
    status, body, response = switch.request("POST", "/api/callevent", event(node, "outage-1"))
    assert (status, body, response.getheader("Retry-After")) == (503, UNAVAILABLE, "1")
    status, body, response = staff.request("GET", f"/api/customer/{node['customer']}/callnotify")
    assert (status, body, response.getheader("Retry-After")) == (503, UNAVAILABLE, "1")
    # A key this process never verified is not taken on trust.
    status, body, _ = Client(port, node["unusedKey"]).request("GET", ROUTE)
    assert (status, body) == (503, UNAVAILABLE)

    proxy.restore()
    assert wait_for(lambda: switch.request("GET", ROUTE)[2].getheader("Telecomx-Degraded") is None, 10), "never recovered"

    # The switch retries the refused event: stored once, delivered once.
    status, body, _ = switch.request("POST", "/api/callevent", event(node, "outage-1"))
    assert (status, body["deliveries"]) == (202, 1)
    assert wait_for(lambda: sink.received.get(body["_id"]) == 1, 30), "the retried event was not delivered"
    time.sleep(1.5)
    assert dict(sink.received) == {body["_id"]: 1}


def test_a_revoked_key_stops_at_once_and_is_not_taken_in_an_outage(node: dict) -> None:
    port, proxy = node["port"], node["proxy"]
    switch, staff = Client(port, node["key"]), Client(port, node["token"])
    assert switch.lookups(3)[0] == [200] * 3
    status, body, _ = staff.request("DELETE", f"/api/apikey/{node['keyId']}")
    assert (status, body["revokedAt"] is not None) == (200, True)
    status, body, _ = switch.request("GET", ROUTE)  # the very next request
    assert (status, body["error"]["code"]) == (401, "credentials_invalid")

    proxy.cut()
    status, body, _ = switch.request("GET", ROUTE)
    assert status in (401, 503)  # never taken: refused from what this process was told, or the outage met
    # once every worker has seen its listening connection cut (milliseconds), as before push:
    assert wait_for(lambda: staff.lookups(10)[1] == {"database"}, 10), "the cut was never noticed"
    status, body, _ = switch.request("GET", ROUTE)
    assert (status, body) == (503, UNAVAILABLE)  # forgotten when refused: never taken from memory
    assert staff.lookups(3)[0] == [200] * 3  # the token, verified before, still routes
    proxy.restore()


def test_routing_and_events_through_a_redis_outage(node: dict, sink: Sink) -> None:
    port = node["port"]
    switch = Client(port, node["key"])
    assert switch.lookups(20)[0] == [200] * 20

    os.killpg(node["redis"].pid, signal.SIGKILL)  # the node's own cache, not the machine's Redis
    node["redis"].wait()

    statuses, degraded, answers = switch.lookups(200)
    assert (statuses.count(200), answers[-1]) == (200, ROUTED)  # rate limits counted in the process
    status, body, _ = switch.request("POST", "/api/callevent", event(node, "redis-1"))
    assert (status, body["deliveries"]) == (202, 1)
    assert wait_for(lambda: sink.received.get(body["_id"]) == 1, 30), "not delivered while Redis was away"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("POST", "/api/auth/login", body=json.dumps({"username": "ops@example.com", "password": "wrong-password"}),
                 headers={"Content-Type": "application/json"})
    assert conn.getresponse().status == 401  # login throttling counts in the process, never a 500
    status, ready = _health(port)
    assert (status, ready["database"], ready["cache"]) == (200, "ok", "down")

    node["redis"] = start_redis(node["redis_port"])
    assert wait_for(lambda: _health(port)[1]["cache"] == "ok", 10), "the cache never came back"
