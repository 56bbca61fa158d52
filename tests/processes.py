"""Fixtures and helpers for the tests that run real processes (marked integration): a local HTTP
sink, the run's own scratch database, the environment of a worker, and polling with a deadline.

A pytest plugin (tests/conftest.py lists it), so test modules share these without importing each other.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("CALLNOTIFY_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


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
    import redis  # only the integration tests need it installed

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


def start_worker(env: dict[str, str], name: str) -> subprocess.Popen:
    """A Celery worker on the env's queue; its output goes to worker-NAME.log in the env's data folder."""
    with open(Path(env["TELECOMX_DATA_DIR"]) / f"worker-{name}.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "telecomx", "worker", "-c", "4", "-n", f"{name}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING",
             "-Q", env["CELERY_TASK_DEFAULT_QUEUE"]],
            cwd=ROOT, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT,
        )


def worker_logs(env: dict[str, str]) -> str:
    """What the env's workers logged above INFO (and the last lines), for a failure's message."""
    lines = []
    for log in sorted(Path(env["TELECOMX_DATA_DIR"]).glob("worker-*.log")):
        text = log.read_text(errors="replace").splitlines()
        lines += [f"== {log.name}"] + [line[:400] for line in text if '"level": "INFO"' not in line][-30:] + text[-5:]
    return "\n".join(lines)


def wait_for(predicate: Callable[[], object], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
