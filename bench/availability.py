"""The fault drill: route look-ups the whole time while PostgreSQL goes away, Redis goes away,
gunicorn reloads (HUP) and one web worker is killed outright (SIGKILL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/availability.py [--outage 30] [--steady 8] [--clients 4]

A node as in production: gunicorn (telecomx/gunicorn.conf.py, 2 workers × 4 threads) on
PostgreSQL, with Redis as cache and broker. PostgreSQL "goes away" for the node through a proxy
this script cuts (the machine's PostgreSQL keeps running); Redis is a redis-server of this
script's own, killed and started again. Four client processes each keep one connection alive and
ask for routes with a service account's API key, as switches do; a request counts as failed
unless it is answered 200 (a kept-alive connection the server closed between requests is opened
again and the request sent again, as HTTP clients do for a GET; those are counted apart).

Per phase it prints look-ups, failures, degraded answers, p50/p99 and the p99's ratio to the
steady phase's p99 measured in the same run, and what GET /api/health/ready answered.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.faults import CuttingProxy, start_redis  # noqa: E402
from tests.processes import free_port, wait_for  # noqa: E402

ROUTE = "/api/sbc/route?bnumber=%2B4570305050"


def client(port: int, key: str, phase, stop, results) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {key}"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    mine: dict[str, dict] = {}
    while not stop.is_set():
        name = phase.value.decode()
        row = mine.setdefault(name, {"ok": 0, "failed": 0, "degraded": 0, "reconnects": 0, "ms": [], "errors": {}})
        started = time.perf_counter()
        status, degraded = None, None
        for attempt in (1, 2):
            try:
                conn.request("GET", ROUTE, headers=headers)
                response = conn.getresponse()
                response.read()
                status, degraded = response.status, response.getheader("Telecomx-Degraded")
                break
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                if attempt == 1 and isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
                    row["reconnects"] += 1
                    continue
                status = type(exc).__name__
        elapsed = (time.perf_counter() - started) * 1000
        if status == 200:
            row["ok"] += 1
            row["ms"].append(elapsed)
            row["degraded"] += degraded is not None
        else:
            row["failed"] += 1
            row["errors"][str(status)] = row["errors"].get(str(status), 0) + 1
            time.sleep(0.01)
    results.put(mine)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def workers_of(master: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                found.append(int(entry))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steady", type=float, default=8)
    parser.add_argument("--outage", type=float, default=30)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
    import psycopg

    name = f"telecomx_drill_{uuid.uuid4().hex[:8]}"
    admin_url = base.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database_url = base.rsplit("/", 1)[0] + f"/{name}"
    target = urlsplit(database_url)
    proxy = CuttingProxy((target.hostname or "127.0.0.1", target.port or 5432))
    redis_port = free_port()
    redis = start_redis(redis_port)
    tmp = tempfile.mkdtemp(prefix="telecomx-drill-")
    env = {**os.environ, "DATABASE_URL": database_url, "TELECOMX_DATA_DIR": tmp, "PYTHONPATH": str(ROOT),
           "CALLNOTIFY_ALLOWED_NETWORKS": "127.0.0.0/8"}
    out = subprocess.run([sys.executable, "-m", "tests.outage_driver", "9"], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True)
    setup = json.loads(out.stdout.strip().splitlines()[-1])
    port = free_port()
    web_env = {**env, "DATABASE_URL": database_url.replace(f":{target.port or 5432}/", f":{proxy.port}/", 1),
               "CACHE_URL": f"redis://127.0.0.1:{redis_port}/0", "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/1",
               "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2", "WEB_THREADS": "4", "LOG_LEVEL": "WARNING",
               "API_RATE_SERVICE": "1000000/min"}
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "telecomx/gunicorn.conf.py", "telecomx.wsgi"],
                           cwd=ROOT, env=web_env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    health: dict[str, set] = {}
    try:
        assert wait_for(lambda: _get(port, "/api/health/live")[0] == 200, 30), "gunicorn did not start"
        phase = multiprocessing.Array("c", 32)
        phase.value = b"warm-up"
        stop, results = multiprocessing.Event(), multiprocessing.Queue()
        clients = [multiprocessing.Process(target=client, args=(port, setup["key"], phase, stop, results))
                   for _ in range(args.clients)]
        for process in clients:
            process.start()
        polling = threading.Event()

        def poll() -> None:
            while not polling.is_set():
                status, body = _get(port, "/api/health/ready")
                health.setdefault(phase.value.decode(), set()).add(
                    f"{status} db={body.get('database')} cache={body.get('cache')} broker={body.get('broker')}")
                time.sleep(1)

        threading.Thread(target=poll, daemon=True).start()

        def run(name: str, seconds: float, start=None, end=None) -> None:  # type: ignore[no-untyped-def]
            phase.value = name.encode()
            if start:
                start()
            time.sleep(seconds)
            if end:
                end()

        time.sleep(3)  # every worker has verified the key and loaded its index

        def stop_redis() -> None:
            os.killpg(redis.pid, signal.SIGKILL)
            redis.wait()

        def start_again() -> None:
            nonlocal redis
            redis = start_redis(redis_port)

        run("steady", args.steady)
        run("PostgreSQL away", args.outage, proxy.cut, proxy.restore)
        run("recovered (PostgreSQL)", 3)
        run("Redis away", args.outage, stop_redis, start_again)
        run("recovered (Redis)", 3)
        run("gunicorn HUP", args.steady, lambda: os.kill(web.pid, signal.SIGHUP))
        run("worker SIGKILL", args.steady, lambda: os.kill(workers_of(web.pid)[0], signal.SIGKILL))
        polling.set()
        stop.set()
        merged: dict[str, dict] = {}
        for _ in clients:
            for name, row in results.get().items():
                into = merged.setdefault(name, {"ok": 0, "failed": 0, "degraded": 0, "reconnects": 0, "ms": [], "errors": {}})
                for field in ("ok", "failed", "degraded", "reconnects"):
                    into[field] += row[field]
                into["ms"] += row["ms"]
                for error, count in row["errors"].items():
                    into["errors"][error] = into["errors"].get(error, 0) + count
        for process in clients:
            process.join()
    finally:
        if proxy.listener is None:
            proxy.restore()
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=30)
        try:
            os.killpg(redis.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proxy.cut()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    steady_p99 = percentile(merged["steady"]["ms"], 0.99)
    print(f"gunicorn 2 workers x 4 threads, {args.clients} kept-alive clients with an API key, load "
          f"{os.getloadavg()[0]:.1f}")
    print("| phase | seconds | look-ups | failed | degraded | reconnects | p50 ms | p99 ms | p99 / steady p99 | /api/health/ready |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    seconds = {"steady": args.steady, "PostgreSQL away": args.outage, "Redis away": args.outage, "recovered (PostgreSQL)": 3,
               "recovered (Redis)": 3, "gunicorn HUP": args.steady, "worker SIGKILL": args.steady}
    for name, row in merged.items():
        if name == "warm-up":
            continue
        p99 = percentile(row["ms"], 0.99)
        errors = f" ({', '.join(f'{k}: {v}' for k, v in row['errors'].items())})" if row["errors"] else ""
        print(f"| {name} | {seconds[name]:g} | {row['ok'] + row['failed']:,} | {row['failed']}{errors} | {row['degraded']:,} | "
              f"{row['reconnects']} | {percentile(row['ms'], 0.5):.1f} | {p99:.1f} | {p99 / steady_p99:.2f} | "
              f"{'; '.join(sorted(health.get(name, set())))} |")


def _get(port: int, path: str) -> tuple[int, dict]:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    except (OSError, http.client.HTTPException, ValueError):
        return 0, {}


if __name__ == "__main__":
    main()
