#!/usr/bin/env python
"""Delivery throughput, end to end, against a raw loop (run by hand; prints ratios, asserts nothing).

    .venv/bin/python bench/delivery.py [--events 5000] [--concurrency 8] [--pool prefork]

A local HTTP sink on 127.0.0.1 and a Celery worker on the machine's Redis (db 14). Measures:
  raw    a plain loop posting the same JSON payloads with the same HTTP client (http.client,
         one connection per request, as the transport does), no database, no queue;
  e2e    events recorded through the ingestion code (record_call_event) -> Redis -> worker ->
         sink, from the first event stored until the sink has received the last one;
  dead   the same while a second endpoint of the same customer accepts connections and never
         answers (every event also goes there and times out after CALLNOTIFY_REQUEST_TIMEOUT).
Uses a scratch database: an SQLite file, or a scratch PostgreSQL database when DATABASE_URL
points at PostgreSQL.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = "redis://127.0.0.1:6379/14"


class Sink(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.count = 0
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.count += 1  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def blackhole() -> socket.socket:
    """Accepts connections (the kernel completes the handshake) and never answers."""
    sock = socket.create_server(("127.0.0.1", 0), backlog=1024)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: [held.append(sock.accept()[0]) for _ in iter(int, 1)], daemon=True).start()
    return sock


def scratch_database(tmp: Path) -> tuple[str, callable]:
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{tmp / 'bench.sqlite3'}", lambda: None
    import psycopg

    name = f"telecomx_bench_{uuid.uuid4().hex[:8]}"
    admin = base.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return base.rsplit("/", 1)[0] + f"/{name}", drop


def wait_until(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--pool", default="prefork")
    parser.add_argument("--no-dead", action="store_true", help="skip the run with a timing-out endpoint")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="telecomx-bench-"))
    database_url, drop_database = scratch_database(tmp)
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "telecomx.settings", "DATABASE_URL": database_url, "TELECOMX_DATA_DIR": str(tmp),
        "CELERY_BROKER_URL": REDIS_URL, "CELERY_TASK_DEFAULT_QUEUE": queue, "CALLNOTIFY_ALLOWED_NETWORKS": "127.0.0.0/8",
        "LOG_LEVEL": "WARNING",
    })
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import redis
    from django.core.management import call_command

    from accounts.models import Customer
    from callnotify.delivery import event_data
    from callnotify.store import record_call_event
    from callnotify.formats import render
    from callnotify.models import CallEvent, CallNotify

    redis.Redis.from_url(REDIS_URL).flushdb()
    call_command("migrate", verbosity=0)
    sink = Sink()
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    port = sink.server_address[1]
    customer = Customer.objects.create(name="Bench")
    CallNotify.objects.create(customer=customer, url=f"http://127.0.0.1:{port}/hook", method="POSTJSON", selection="ALL")
    when = datetime(2026, 11, 22, 10, 15, tzinfo=timezone.utc)

    def record(prefix: str, n: int) -> None:
        record_call_event(call_id=f"{prefix}-{n}", customer=customer, type="SIP", direction="INBOUND", state="RINGING",
                          a_number="+4512345678", b_number="+4570305050", timestamp=when)

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "telecomx", "worker", "-P", args.pool, "-c", str(args.concurrency),
         "-Q", queue, "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
        cwd=ROOT, env=os.environ.copy(), start_new_session=True,
    )
    try:
        record("warmup", 0)
        assert wait_until(lambda: sink.count >= 1, 60), "worker did not start"

        # raw: the same payloads, the same client, one after another
        payloads = [render(event_data(e), "POSTJSON").body for e in CallEvent.objects.all()] * args.events
        payloads = payloads[: args.events]
        before, started = sink.count, time.perf_counter()
        for body in payloads:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", "/hook", body=body, headers={"Content-Type": "application/json", "Connection": "close"})
            conn.getresponse().read()
            conn.close()
        raw = args.events / (time.perf_counter() - started)
        assert sink.count - before == args.events

        def end_to_end(prefix: str) -> float:
            before, started = sink.count, time.perf_counter()
            for n in range(args.events):
                record(prefix, n)
            stored = time.perf_counter() - started
            assert wait_until(lambda: sink.count - before >= args.events, 900), "deliveries did not arrive"
            elapsed = time.perf_counter() - started
            print(f"  {prefix}: {args.events} events stored in {stored:.1f} s, all received after {elapsed:.1f} s")
            return args.events / elapsed

        e2e = end_to_end("e2e")
        dead = 0.0
        if args.no_dead:
            return print(f"raw {raw:.0f}/s, end to end {e2e:.0f}/s, ratio {e2e / raw:.2f}")
        hole = blackhole()
        CallNotify.objects.create(customer=customer, url=f"http://127.0.0.1:{hole.getsockname()[1]}/hook",
                                  method="POSTJSON", selection="ALL")
        dead = end_to_end("dead")
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        sink.shutdown()
        from django.db import connections

        connections.close_all()
        drop_database()
        redis.Redis.from_url(REDIS_URL).flushdb()

    vendor = "postgresql" if database_url.startswith("postgres") else "sqlite"
    print(f"database {vendor}, worker -P {args.pool} -c {args.concurrency}, {os.cpu_count()} CPUs, {args.events} events")
    print(f"raw loop (http.client, no queue):     {raw:8.0f} deliveries/s")
    print(f"end to end (API code -> Redis -> worker): {e2e:8.0f} deliveries/s   ratio to raw {e2e / raw:.2f}")
    print(f"end to end, another endpoint timing out:  {dead:8.0f} deliveries/s   ratio to raw {dead / raw:.2f}, "
          f"to end to end {dead / e2e:.2f}")


if __name__ == "__main__":
    main()
