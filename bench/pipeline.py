#!/usr/bin/env python
"""The call event pipeline end to end, with the README's production commands (run by hand; asserts nothing).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tx_pipeline .venv/bin/python bench/pipeline.py \
        [--calls 2000] [--clients 8] [--batch 100] [--ingest-batch 1000] [--concurrency 8] [--sustain-seconds 60]
        [--rate 300] [--redis redis://127.0.0.1:6379/3] [--skip bare,ingest,drain,single,batch,sustained,fair,dead]

A scratch database (PostgreSQL when DATABASE_URL points at it, else SQLite), the Redis database
given (flushed), `gunicorn -c telecomx/gunicorn.conf.py telecomx.wsgi` and
`celery -A telecomx worker -l WARNING -c CONCURRENCY`, a sink on 127.0.0.1 in a process of its own
(HTTP/1.1, keep-alive), one customer with two endpoints on the sink, posted to with the API key of
a switch service account of the operator's root customer from --clients threads. Phases, each measured in this run:

  raw       a plain loop posting as many requests to the sink, one connection each (the baseline);
  bare      single events into a bare Django view doing the same database work (bench/bare.py),
            against POST /api/callevent (ingestion only, deliveries left queued) — ratio api/bare;
  ingest    --calls calls × 3 events in batches of --ingest-batch (1,000), ingestion only: events/s;
  drain     the ingest phase's deliveries, sent by the worker started after it: deliveries/s from the
            first arrival (the delivery side alone);
  single    --calls calls × 3 events posted one per request: events/s in, deliveries/s out;
  batch     the same in batches of 100;
  sustained --rate events/s for --sustain-seconds, --sustain-batch events per request (a switch
            posting what it has every few tens of ms; 1 = one per request): the rate achieved,
            and p50/p99 lag from post to arrival;
  fair      100,000 deliveries of another customer pending over its 1,000 endpoints on the sink
            (a hint per worker process first: all busy on them), then 300 events of the bench
            customer in requests of 30: the lag of its 600 deliveries (the issue's goal: within 2 s);
  dead      the batch run again while a third endpoint of the customer accepts connections and
            never answers: the healthy endpoints' deliveries/s against the batch run's.

Each phase leaves what it queued to later ones (the fair phase most: about 95,000 of its backlog
are still being sent when it ends), so a phase's figure is its own only when run alone or first:
`--skip` the others (bench/README.md gives each row with the phases it ran beside).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


# --- the sink (its own process) ------------------------------------------------------------

class _SinkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        now = time.time()
        if self.path.startswith("/hook"):
            event = json.loads(body)
            with self.server.lock:  # type: ignore[attr-defined]
                self.server.arrivals.append((self.path, event["callId"], event["state"], now,  # type: ignore[attr-defined]
                                             event["sequence"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        server = self.server
        with server.lock:  # type: ignore[attr-defined]
            if self.path == "/count":
                data = json.dumps(len(server.arrivals)).encode()  # type: ignore[attr-defined]
            elif self.path.startswith("/count/"):  # arrivals of the calls whose id starts so
                prefix = self.path[len("/count/"):]
                data = json.dumps(sum(1 for a in server.arrivals if a[1].startswith(prefix))).encode()  # type: ignore[attr-defined]
            else:
                data = json.dumps(server.arrivals).encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def _sink_main(port_out: multiprocessing.Queue) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SinkHandler)
    server.daemon_threads = True
    server.request_queue_size = 1024
    server.arrivals = []  # type: ignore[attr-defined]
    server.lock = threading.Lock()  # type: ignore[attr-defined]
    port_out.put(server.server_address[1])
    server.serve_forever()


class SinkClient:
    def __init__(self, port: int) -> None:
        self.port = port

    def _get(self, path: str) -> object:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.request("GET", path)
        data = json.loads(conn.getresponse().read())
        conn.close()
        return data

    def count(self, prefix: str = "") -> int:
        return int(self._get(f"/count/{prefix}" if prefix else "/count"))  # type: ignore[arg-type]

    def arrivals(self) -> list[list]:
        return self._get("/arrivals")  # type: ignore[return-value]


def blackhole() -> socket.socket:
    """Accepts connections (the kernel completes the handshake) and never answers."""
    sock = socket.create_server(("127.0.0.1", 0), backlog=1024)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: [held.append(sock.accept()[0]) for _ in iter(int, 1)], daemon=True).start()
    return sock


# --- set-up ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scratch_database(tmp: Path) -> tuple[str, callable]:
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{tmp / 'bench.sqlite3'}", lambda: None
    import psycopg

    name = f"telecomx_pipeline_{uuid.uuid4().hex[:8]}"
    admin = base.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return base.rsplit("/", 1)[0] + f"/{name}", drop


SETUP = r"""
import json, sys, django
django.setup()
from django.contrib.auth.models import Permission
from django.core.management import call_command
from accounts.models import AccessLevel, ApiKey, Customer, Employee
from callnotify.models import CallNotify
call_command("migrate", verbosity=0)
operator = Customer.objects.create(name="Operator", is_reseller=True)
switch = Employee.objects.create_user("switch@bench.example", None, customer=operator, access_level=AccessLevel.VIEWER)
switch.user_permissions.add(Permission.objects.get(codename="add_callevent", content_type__app_label="callnotify"))
customer = Customer.objects.create(name="Customer", parent_reseller=operator)
port = int(sys.argv[1])
for path in ("/hook/a", "/hook/b"):
    CallNotify.objects.create(customer=customer, url=f"http://127.0.0.1:{port}{path}", method="POSTJSON", selection="ALL")
# The switch's own credential, as the shipped Kamailio config posts with: its API key (docs/switch.md).
print(json.dumps({"customer": customer.pk, "token": ApiKey.objects.issue(name="bench-switch", account=switch)[1]}))
"""

ADD_DEAD = r"""
import django
django.setup()
from callnotify.models import CallNotify
import sys
CallNotify.objects.create(customer_id=sys.argv[1], url=f"http://127.0.0.1:{sys.argv[2]}/dead", method="POSTJSON", selection="ALL")
"""

HOG = r"""
import sys, django
django.setup()
from django.db import connection
from accounts.models import Customer
from bench.scratch import fan_out
from callnotify.models import CallNotify
hog = Customer.objects.create(name="Hog", parent_reseller=Customer.objects.get(name="Operator"))
CallNotify.objects.bulk_create(CallNotify(customer=hog, url=f"http://127.0.0.1:{sys.argv[1]}/hog{n}", method="POSTJSON",
                                          selection="ALL") for n in range(1000))
with connection.cursor() as cursor:
    cursor.execute(
        "INSERT INTO callnotify_callevent (id, customer_id, call_id, type, direction, state, a_number, b_number,"
        " timestamp, cause, additional, sequence, created_at, request_id) SELECT 'hog' || lpad(to_hex(n), 21, '0'), %s,"
        " 'hog-' || n, 'SIP', 'INBOUND', 'RINGING', '+4512345678', '+4570305050', now(), '', '{}', 1, now(), ''"
        " FROM generate_series(1, 100) AS n", [hog.pk])
pending = fan_out(hog.pk)
from callnotify import hints
for _ in range(int(sys.argv[2])):  # as a busy switch's posts would: every worker process busy on the backlog
    hints.wake(coalesce=False)
print(pending)
"""

HOG_LEFT = r"""
import django
django.setup()
from callnotify.models import Delivery
print(Delivery.objects.filter(state="PENDING", endpoint__customer__name="Hog").count())
"""

DELETE_PENDING = r"""
import django
django.setup()
from callnotify.models import CallEvent
CallEvent.objects.all().delete()
"""


def manage(env: dict[str, str], script: str, *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


def start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --- load ------------------------------------------------------------------------------------

def event(customer: str, call_id: str, state: str) -> dict:
    return {"callId": call_id, "customer": customer, "type": "SIP", "direction": "INBOUND", "state": state,
            "aNumber": "+4512345678", "bNumber": "+4570305050", "timestamp": "2026-11-22T10:15:00Z"}


STATES = ("RINGING", "ANSWERED", "HANGUP")


class Poster:
    """--clients threads, each with one kept-alive connection to gunicorn."""

    def __init__(self, port: int, token: str, clients: int) -> None:
        self.port, self.token, self.clients = port, token, clients
        self.posted: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()
        self.errors = 0

    def _post(self, conn: http.client.HTTPConnection, path: str, body: object) -> int:
        conn.request("POST", path, body=json.dumps(body),
                     headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status

    def run(self, requests: list[tuple[str, object, list[tuple[str, str]]]], *, rate: float | None = None) -> float:
        """Post every (path, body, keys) from the threads; with `rate` (events/s) paced. Answers seconds taken."""
        queue = list(reversed(requests))
        take = threading.Lock()
        started = time.perf_counter()
        sent_events = [0]

        def client() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            while True:
                with take:
                    if not queue:
                        break
                    path, body, keys = queue.pop()
                    if rate:
                        due = started + sent_events[0] / rate
                        sent_events[0] += len(keys)
                if rate:
                    pause = due - time.perf_counter()
                    if pause > 0:
                        time.sleep(pause)
                now = time.time()
                with self.lock:
                    for key in keys:
                        self.posted[key] = now
                if self._post(conn, path, body) != 202:
                    self.errors += 1
            conn.close()

        threads = [threading.Thread(target=client) for _ in range(self.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.perf_counter() - started


def calls(prefix: str, count: int) -> list[tuple[str, str]]:
    """(callId, state) in the order a switch reports them: each call's three events, calls interleaved."""
    keys = []
    for start in range(0, count, 50):
        for state in STATES:
            keys += [(f"{prefix}-{n}", state) for n in range(start, min(start + 50, count))]
    return keys


def once_in_order(arrivals: list[list], prefix: str, expected: int) -> str:
    """Every delivery of the phase's calls arrived once, each call's events at each endpoint in
    the order the API stored them (their `sequence`: 1, 2, 3); raises when not. (Not the order of
    STATES: the posting threads send a call's states in different requests at once, so the API
    may store a call's ANSWERED before its RINGING, and sends them so.)"""
    seen: dict[tuple[str, str], list[int]] = {}
    for path, call, _, _, sequence in arrivals:
        if call.startswith(prefix):
            seen.setdefault((path, call), []).append(sequence)
    arrived = sum(len(sequences) for sequences in seen.values())
    wrong = [(key, sequences) for key, sequences in seen.items() if sequences != list(range(1, len(sequences) + 1))]
    assert arrived == expected and not wrong, f"{prefix}: {arrived} arrived of {expected}; out of order or twice: {wrong[:3]}"
    return "each once and in order"


def wait_for(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100, help="events per request in the batch and dead phases")
    parser.add_argument("--concurrency", type=int, default=8, help="the Celery worker's processes (-c)")
    parser.add_argument("--ingest-batch", type=int, default=1000, help="events per request in the ingest phase")
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--sustain-seconds", type=float, default=60)
    parser.add_argument("--sustain-batch", type=int, default=10, help="events per request in the sustained phase (1: single)")
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3"))
    parser.add_argument("--skip", default="", help="comma-separated phases to skip (bare,ingest,drain,single,batch,sustained,fair,dead)")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    import redis

    tmp = Path(tempfile.mkdtemp(prefix="telecomx-pipeline-"))
    database_url, drop_database = scratch_database(tmp)
    web_port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", "DATABASE_URL": database_url,
           "TELECOMX_DATA_DIR": str(tmp), "CELERY_BROKER_URL": args.redis,
           "CELERY_TASK_DEFAULT_QUEUE": f"pipeline-{uuid.uuid4().hex[:8]}", "CALLNOTIFY_ALLOWED_NETWORKS": "127.0.0.0/8",
           "LOG_LEVEL": "WARNING", "BIND": f"127.0.0.1:{web_port}", "PYTHONPATH": str(ROOT)}
    redis.Redis.from_url(args.redis).flushdb()

    ports: multiprocessing.Queue = multiprocessing.Queue()
    sink_process = multiprocessing.Process(target=_sink_main, args=(ports,), daemon=True)
    sink_process.start()
    sink = SinkClient(ports.get(timeout=10))
    setup = json.loads(manage(env, SETUP, str(sink.port)))
    customer = setup["customer"]
    gunicorn = worker = None
    results: dict[str, float] = {}
    try:
        gunicorn = start([str(BIN / "gunicorn"), "-c", "telecomx/gunicorn.conf.py", "telecomx.wsgi"], env)
        assert wait_for(lambda: _up(web_port), 60), "gunicorn did not start"
        poster = Poster(web_port, setup["token"], args.clients)

        # raw: the plain loop, one connection per request
        deliveries = args.calls * 3 * 2
        body = json.dumps({**event(customer, "raw", "RINGING"), "eventId": "x"}).encode()
        started = time.perf_counter()
        for _ in range(deliveries):
            conn = http.client.HTTPConnection("127.0.0.1", sink.port, timeout=10)
            conn.request("POST", "/raw", body=body, headers={"Content-Type": "application/json", "Connection": "close"})
            conn.getresponse().read()
            conn.close()
        results["raw"] = deliveries / (time.perf_counter() - started)
        print(f"raw loop: {results['raw']:.0f} requests/s")

        if "bare" not in skip:  # ingestion only: no worker runs yet, deliveries stay queued
            n = args.calls * 3
            bare = poster.run([("/bare/callevent", event(customer, k[0], k[1]), [k]) for k in calls("bare", args.calls)])
            api = poster.run([("/api/callevent", event(customer, k[0], k[1]), [k]) for k in calls("api", args.calls)])
            results["bare_in"], results["api_in"] = n / bare, n / api
            print(f"ingestion only: bare view {n / bare:.0f} events/s, API {n / api:.0f} events/s, ratio {bare / api:.2f}")
            manage(env, DELETE_PENDING)

        if "ingest" not in skip:  # batch ingestion only, batches of --ingest-batch: no worker runs yet
            keys = calls("ingest", args.calls)
            size = args.ingest_batch
            took = poster.run([("/api/callevent", [event(customer, *k) for k in keys[i:i + size]], keys[i:i + size])
                               for i in range(0, len(keys), size)])
            results["ingest_in"] = len(keys) / took
            print(f"ingestion only, batches of {size}: {len(keys)} events in {took:.1f} s, {len(keys) / took:.0f} events/s")
            if "drain" in skip:
                manage(env, DELETE_PENDING)

        worker = start([str(BIN / "celery"), "-A", "telecomx", "worker", "-l", "WARNING", "-c", str(args.concurrency)], env)
        if "ingest" not in skip and "drain" not in skip:  # the delivery side alone: the ingest phase's backlog
            expected = len(keys) * 2
            assert wait_for(lambda: sink.count() >= 1, 120), "the worker delivered nothing"
            first = time.perf_counter()
            assert wait_for(lambda: sink.count() >= expected, 900), "drain: deliveries did not arrive"
            took = time.perf_counter() - first
            results["drain_out"] = expected / took
            print(f"drain: {expected} queued deliveries sent in {took:.1f} s from the first arrival, "
                  f"{expected / took:.0f} deliveries/s, ratio to raw {expected / took / results['raw']:.2f}")
        poster.run([("/api/callevent", event(customer, "warmup", "RINGING"), [("warmup", "RINGING")])])
        assert wait_for(lambda: sink.count() >= 2, 60), "the worker delivered nothing"

        def end_to_end(name: str, batch: int, count: int, healthy_per_event: int = 2) -> None:
            keys = calls(name, count)
            if batch == 1:
                requests = [("/api/callevent", event(customer, *k), [k]) for k in keys]
            else:
                requests = [("/api/callevent", [event(customer, *k) for k in keys[i:i + batch]], keys[i:i + batch])
                            for i in range(0, len(keys), batch)]
            started = time.perf_counter()
            posting = poster.run(requests)
            expected = len(keys) * healthy_per_event
            # (this phase's own: late arrivals of earlier phases would end the wait early)
            assert wait_for(lambda: sink.count(f"{name}-") >= expected, 900), f"{name}: deliveries did not arrive"
            elapsed = time.perf_counter() - started
            results[f"{name}_in"] = len(keys) / posting
            results[f"{name}_out"] = expected / elapsed
            check = once_in_order(sink.arrivals(), f"{name}-", expected)
            print(f"{name}: {len(keys)} events posted in {posting:.1f} s ({len(keys) / posting:.0f} events/s in), "
                  f"{expected} deliveries after {elapsed:.1f} s ({expected / elapsed:.0f} deliveries/s out, "
                  f"ratio to raw {expected / elapsed / results['raw']:.2f}); {check}")

        if "single" not in skip:
            end_to_end("single", 1, args.calls)
        if "batch" not in skip:
            end_to_end("batch", args.batch, args.calls)
        if "sustained" not in skip:
            count = int(args.rate * args.sustain_seconds / 3)
            keys = calls("sustained", count)
            size = args.sustain_batch
            before = len(sink.arrivals())
            took = poster.run([("/api/callevent", [event(customer, *k) for k in keys[i:i + size]] if size > 1
                                else event(customer, *keys[i]), keys[i:i + size]) for i in range(0, len(keys), size)],
                              rate=args.rate)
            results["sustained_rate"] = len(keys) / took
            assert wait_for(lambda: sink.count("sustained-") >= len(keys) * 2, 300), "sustained: deliveries did not arrive"
            lags = [t - poster.posted[(c, s)] for _, c, s, t, _ in sink.arrivals()[before:] if c.startswith("sustained-")]
            results["lag_p50"], results["lag_p99"] = percentile(lags, 0.5), percentile(lags, 0.99)
            print(f"sustained {args.rate:.0f} events/s asked, {results['sustained_rate']:.0f} achieved, for {took:.0f} s "
                  f"(requests of {size} events): lag p50 {results['lag_p50']:.3f} s, "
                  f"p99 {results['lag_p99']:.3f} s, max {max(lags):.3f} s")
        if "fair" not in skip:
            # Another customer's backlog: 100 events x 1,000 endpoints on the sink = 100,000 deliveries
            # pending (written in one statement, as ingestion would store them), and a hint for each
            # worker process, so that all are busy on them (without, no worker knew of the backlog
            # until the fair customer's own posts woke them).
            hog_pending = int(manage(env, HOG, str(sink.port), str(args.concurrency)))
            time.sleep(3)
            keys = calls("fair", 100)  # 300 events, 600 deliveries to the bench customer's two endpoints
            before = len(sink.arrivals())
            poster.run([("/api/callevent", [event(customer, *k) for k in keys[i:i + 30]], keys[i:i + 30])
                        for i in range(0, len(keys), 30)])
            assert wait_for(lambda: sink.count("fair-") >= len(keys) * 2, 300), "fair: deliveries did not arrive"
            lags = [t - poster.posted[(c, s)] for _, c, s, t, _ in sink.arrivals()[before:] if c.startswith("fair-")]
            left = int(manage(env, HOG_LEFT))
            results["fair_p99"], results["fair_max"] = percentile(lags, 0.99), max(lags)
            print(f"fair: with {hog_pending} deliveries of another customer pending over 1,000 endpoints "
                  f"({left} still pending after), {len(lags)} fresh deliveries arrived: lag p50 {percentile(lags, 0.5):.3f} s, "
                  f"p99 {results['fair_p99']:.3f} s, max {results['fair_max']:.3f} s")
        if "dead" not in skip and "batch_out" in results:
            hole = blackhole()
            manage(env, ADD_DEAD, customer, str(hole.getsockname()[1]))
            end_to_end("dead", args.batch, args.calls)
            print(f"dead: healthy endpoints at {results['dead_out'] / results['batch_out']:.2f} of the all-healthy batch run")
    finally:
        stop(worker)
        stop(gunicorn)
        sink_process.terminate()
        drop_database()
        redis.Redis.from_url(args.redis).flushdb()
    results["refused_requests"] = poster.errors
    print(json.dumps({k: round(v, 3) for k, v in results.items()}))


def _up(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        conn.request("GET", "/api/health")
        conn.getresponse().read()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
