"""A real Celery worker on the machine's Redis, SIGKILLed in the middle of 1,000 deliveries (docs/callevents.md §5).

Every delivery must end DELIVERED; the sink must have received each event exactly once, or
more than once only where the log records the interrupted attempt that explains it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("CALLNOTIFY_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
EVENTS = 1000


class Sink(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SinkHandler)
        self.received: Counter[str] = Counter()
        self.lock = threading.Lock()


class _SinkHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(0.005)  # a realistic endpoint takes a moment: the kill lands mid-way
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.received[json.loads(body)["eventId"]] += 1  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """The run's own database server: a scratch PostgreSQL database when the run uses PostgreSQL, else an SQLite file."""
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        yield f"sqlite:///{tmp_path / 'db.sqlite3'}"
        return
    import psycopg

    name = f"telecomx_durability_{uuid.uuid4().hex[:8]}"
    admin_url = base.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield base.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> Iterator[dict[str, str]]:
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    client.flushdb()  # a dedicated database number: nothing else lives there
    queue = f"durability-{uuid.uuid4().hex[:8]}"
    yield {
        **os.environ,
        "DATABASE_URL": database_url,
        "TELECOMX_DATA_DIR": str(tmp_path),
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "CALLNOTIFY_ALLOWED_NETWORKS": "127.0.0.0/8",
        "CALLNOTIFY_LEASE_SECONDS": "3",
        "CALLNOTIFY_SWEEP_SECONDS": "1",
        "CALLNOTIFY_SWEEP_GRACE_SECONDS": "2",
        "PYTHONPATH": str(ROOT),
    }
    client.flushdb()


def driver(env: dict[str, str], *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "tests.callnotify.durability_driver", *args], cwd=ROOT, env=env,
                         check=True, capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def start_worker(env: dict[str, str], name: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "telecomx", "worker", "-c", "4", "-n", f"{name}@%h", "--without-gossip",
         "--without-mingle", "--without-heartbeat", "-l", "WARNING", "-Q", env["CELERY_TASK_DEFAULT_QUEUE"]],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def wait_for(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_killing_the_worker_mid_way_loses_no_delivery(sink: Sink, env: dict[str, str]) -> None:
    assert driver(env, "setup", str(sink.server_address[1]), str(EVENTS)) == {"deliveries": EVENTS}

    first = start_worker(env, "first")
    try:
        assert wait_for(lambda: sum(sink.received.values()) >= EVENTS // 4, 60), "the first worker delivered nothing"
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the whole worker: main process and pool, no goodbye
        first.wait()
    delivered_before_kill = sum(sink.received.values())
    assert delivered_before_kill < EVENTS, "the kill came too late to prove anything"

    second = start_worker(env, "second")
    try:
        assert wait_for(lambda: all(s == "DELIVERED" for s, _, _ in driver(env, "report").values()), 90)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(30)

    report = driver(env, "report")
    assert len(report) == EVENTS and {state for state, _, _ in report.values()} == {"DELIVERED"}
    missing = [event for event in report if sink.received[event] == 0]
    assert missing == []
    unexplained = {event: (sink.received[event], interrupted) for event, (_, _, interrupted) in report.items()
                   if sink.received[event] > 1 + interrupted}
    assert unexplained == {}
    assert set(sink.received) == set(report)
    duplicates = sum(sink.received.values()) - EVENTS
    print(f"\nkilled after {delivered_before_kill} of {EVENTS}; {duplicates} recorded duplicates; "
          f"{sum(i for _, _, i in report.values())} interrupted attempts logged")
