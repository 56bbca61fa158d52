"""Load benchmark of the production server (gunicorn) on 127.0.0.1, next to bare Django views.

    .venv/bin/python bench/api.py [--db sqlite|postgres|both] [--seconds 5] [--concurrency 8] [--only ROW]

For each database it makes a fresh one, loads data (a customer with 100 call notify items, 1,000
rules, peers), starts gunicorn with bench/settings.py, and drives each target for --seconds with
--concurrency keep-alive connections from a separate process, API and bare view taking turns
in one-second slices so that other load on the machine weighs on both. It prints requests per second,
p50 and p99 latency, and the ratio of each API target to the bare Django view doing the same
database work in the same run; and the server's CPU time per request on each side (its processes'
user + system time over the slice, PostgreSQL's not included), a steadier figure than requests per
second on a machine whose load moves. Workers are not recycled during the run (WEB_MAX_REQUESTS=0). The environment reaches the server
(`CREDENTIAL_NOTIFICATIONS=0` measures every request asking the database for its credential).
Run by hand; it is not part of the test suite.
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
PG_BENCH_DB = "telecomx_bench"

SETUP = r"""
import json, django
django.setup()
from accounts.models import AccessLevel, Customer, Employee, Token
from callnotify.models import CallNotify
import bench.data as data
customer = Customer.objects.create(name="Bench A/S", is_reseller=True, features=["FINANCE", "TELE"],
                                   callnotify_limit=10_000_000)  # creates all run long: no per-customer cap
admin = Employee.objects.create_user("bench@example.com", None, customer=customer, access_level=AccessLevel.ADMIN)
CallNotify.objects.bulk_create(
    CallNotify(customer=customer, url=f"http://127.0.0.1:9/call{n}", method="POSTJSON", selection="ALL")
    for n in range(100)
)
extra = data.load(customer=customer, admin=admin)
print(json.dumps({"customer": customer.pk, "token": Token.objects.issue(admin, persist=True)[1], **extra}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_database(kind: str, workdir: Path) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", "TELECOMX_DATA_DIR": str(workdir)}
    env.pop("CELERY_BROKER_URL", None)
    env["CALLNOTIFY_IN_PROCESS"] = "off"  # measure serving; deliveries are bench/pipeline.py's subject
    if kind == "postgres":
        import psycopg

        with psycopg.connect(PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")
        env["DATABASE_URL"] = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + PG_BENCH_DB
    else:
        env.pop("DATABASE_URL", None)
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    return env


def start_server(env: dict[str, str], port: int) -> subprocess.Popen:
    server_env = {**env, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", "2"),
                  # No recycling: a worker restarted every 10,000 requests (the default) is a second of
                  # imports and warming on whichever side's slice it falls, the run's largest noise.
                  "WEB_MAX_REQUESTS": os.environ.get("WEB_MAX_REQUESTS", "0")}
    gunicorn = str(Path(PYTHON).parent / "gunicorn")
    proc = subprocess.Popen(
        [gunicorn, "-c", "telecomx/gunicorn.conf.py", "telecomx.wsgi"],
        cwd=ROOT, env=server_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    raise SystemExit("gunicorn did not start")


def _worker(args: tuple) -> list[float]:
    port, method, path, body, headers, seconds = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    counter = 0
    while time.perf_counter() < deadline:
        counter += 1
        payload = body.replace("{n}", f"{os.getpid()}-{counter}").encode() if body else None
        started = time.perf_counter()
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status >= 400:
            raise SystemExit(f"{method} {path} answered {response.status}")
        latencies.append(time.perf_counter() - started)
    conn.close()
    return latencies


def drive(port: int, method: str, path: str, body: str | None, token: str | None, seconds: float, concurrency: int) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with multiprocessing.Pool(concurrency) as pool:
        started = time.perf_counter()
        results = pool.map(_worker, [(port, method, path, body, headers, seconds)] * concurrency)
        elapsed = time.perf_counter() - started
    return {"latencies": [x for r in results for x in r], "elapsed": elapsed}


def summary(parts: list[dict]) -> dict:
    latencies = sorted(x for part in parts for x in part["latencies"])
    return {
        "cpu_us": sum(part.get("cpu", 0.0) for part in parts) / len(latencies) * 1e6,
        "rps": len(latencies) / sum(part["elapsed"] for part in parts),
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[int(len(latencies) * 0.99)] * 1000,
    }


def server_cpu(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the server's processes (its process group)."""
    total = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:  # pgrp
                total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def interleaved(port: int, api: tuple, bare: tuple, token: str, seconds: float, concurrency: int, pgid: int) -> tuple[dict, dict]:
    """API and bare view in alternating one-second slices: a machine whose load moves (other jobs on
    the same cores) moves both sides of the ratio alike, instead of whichever ran in the bad five
    seconds. Each side also gets the server's CPU time per request: what serving it costs the
    machine, steadier than requests per second while the load moves."""
    api_parts, bare_parts = [], []
    for _ in range(max(1, round(seconds))):
        for parts, target, credential in ((api_parts, api, token), (bare_parts, bare, None)):
            before = server_cpu(pgid)
            part = drive(port, *target, credential, seconds / max(1, round(seconds)), concurrency)
            part["cpu"] = server_cpu(pgid) - before
            parts.append(part)
    return summary(api_parts), summary(bare_parts)


def targets(setup: dict) -> list[tuple[str, str, str, str | None, str, str | None]]:
    """(name, method, API path, body, bare path, bare body)."""
    customer = setup["customer"]
    item = '{"url": "http://127.0.0.1:9/{n}", "method": "POSTJSON", "selection": "ALL"}'
    import bench.data as data

    return [
        ("call notify list (100)", "GET", f"/api/customer/{customer}/callnotify", None, f"/bare/callnotify/{customer}", None),
        ("call notify create", "POST", f"/api/customer/{customer}/callnotify", item, f"/bare/callnotify/{customer}/create", item),
        *data.targets(setup),
    ]


def run(kind: str, seconds: float, concurrency: int, only: str | None = None) -> list[tuple]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = prepare_database(kind, Path(tmp))
        done = subprocess.run([PYTHON, "-c", SETUP], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        setup = json.loads(done.stdout.strip().splitlines()[-1])
        port = free_port()
        server = start_server(env, port)
        try:
            for name, method, path, body, bare_path, bare_body, *credential in targets(setup):
                if only and only.lower() not in name.lower():
                    continue
                token = credential[0] if credential else setup["token"]  # an ADMIN's token unless the row names one
                drive(port, method, path, body, token, 1, concurrency)  # warm up
                api, bare = interleaved(port, (method, path, body), (method, bare_path, bare_body), token, seconds, concurrency,
                                        server.pid)
                rows.append((kind, name, api, bare))
                print(f"  {kind:8} {name:30} api {api['rps']:7.0f}/s  bare {bare['rps']:7.0f}/s", flush=True)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--only", help="only the rows whose name holds this (for example 'look-up')")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    kinds = ["postgres", "sqlite"] if args.db == "both" else [args.db]
    rows = [row for kind in kinds for row in run(kind, args.seconds, args.concurrency, args.only)]
    print()
    print("| database | target | API req/s | p50 ms | p99 ms | bare req/s | bare p50 ms | bare p99 ms | API/bare "
          "| server CPU µs/request, API / bare | bare/API CPU |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for kind, name, api, bare in rows:
        print(
            f"| {kind} | {name} | {api['rps']:.0f} | {api['p50']:.1f} | {api['p99']:.1f} | {bare['rps']:.0f} "
            f"| {bare['p50']:.1f} | {bare['p99']:.1f} | {api['rps'] / bare['rps']:.2f} "
            f"| {api['cpu_us']:.0f} / {bare['cpu_us']:.0f} | {bare['cpu_us'] / api['cpu_us']:.2f} |"
        )
    print(f"\n{os.cpu_count()} cores; gunicorn {os.environ.get('WEB_CONCURRENCY', '2')} workers × 4 threads; "
          f"{args.concurrency} client connections from a separate process pool; {args.seconds:.0f} s per target.")


if __name__ == "__main__":
    main()
