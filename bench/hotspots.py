"""Where an API request's time goes: bench/api.py's data and targets, one target profiled in process.

    .venv/bin/python bench/hotspots.py TARGET [--requests 300] [--database-url URL] [--top 25] [--save FILE] [--bare] [--compare]

TARGET is a row name of bench/api.py, or a part of it ("call notify list", "look-up (API key)").
The requests go through the whole Django stack (middleware, DRF, the renderer) with Django's
test client, with bench/settings.py; cProfile prints the functions with the most cumulative
and own time. `--database-url` takes a scratch PostgreSQL database (it is emptied and filled);
without it, a fresh SQLite file. Run by hand; it is not part of the test suite.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--database-url")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--save", help="also write the raw profile here (pstats format: callers, callees)")
    parser.add_argument("--compare", action="store_true",
                        help="no profiler: time the target and its bare view in turns, in process, and print the ratio")
    parser.add_argument("--bare", action="store_true", help="profile the target's bare view instead (to set beside the API's)")
    args = parser.parse_args()
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ["CALLNOTIFY_IN_PROCESS"] = "off"
    os.environ.pop("CELERY_BROKER_URL", None)
    from bench import scratch

    scratch.setup(args.database_url)
    from django.core.management import call_command

    if args.database_url:
        call_command("flush", interactive=False, verbosity=0)
    from django.test import Client

    from bench import api

    namespace: dict = {}
    exec(api.SETUP.replace("django.setup()", ""), namespace)  # noqa: S102 - the benchmark's own setup code
    import bench.data  # noqa: F401

    setup = json.loads(namespace["json"].dumps({"customer": namespace["customer"].pk,
                                                "token": namespace["Token"].objects.issue(namespace["admin"], persist=True)[1],
                                                **namespace["extra"]}))
    found = [t for t in api.targets(setup) if args.target.lower() in t[0].lower()]
    if not found:
        raise SystemExit(f"no target matches {args.target!r}: " + ", ".join(t[0] for t in api.targets(setup)))
    name, method, path, body, bare_path, bare_body, *credential = found[0]
    token = credential[0] if credential else setup["token"]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1")

    def one(n: int, path: str = path, body: str | None = body) -> None:
        payload = body.replace("{n}", f"p-{n}") if body else None
        answer = client.generic(method, path, payload or "", content_type="application/json")
        if answer.status_code >= 400:
            raise SystemExit(f"{name}: {answer.status_code} {answer.content[:200]!r}")

    for n in range(20):  # warm: caches, prepared statements, the routing index
        one(n)
        one(100 + n, bare_path, bare_body)
    if args.compare:
        compare(one, args.requests, bare_path, bare_body, name)
        return
    profile = cProfile.Profile()
    profile.enable()
    for n in range(args.requests):
        one(1000 + n, bare_path, bare_body) if args.bare else one(1000 + n)
    profile.disable()
    if args.save:
        profile.dump_stats(args.save)
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    total = stats.total_tt
    print(f"{name}: {args.requests} requests, {total / args.requests * 1000:.2f} ms each under the profiler\n")
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)
    print(out.getvalue())


def compare(one, requests: int, bare_path: str, bare_body: str | None, name: str) -> None:
    """Ten turns each way of requests/10 requests; the median turn of each side, in ms a request."""
    import statistics
    import time

    turn = max(requests // 10, 1)
    sides: dict[str, list[float]] = {"api": [], "bare": []}
    cpu: dict[str, list[float]] = {"api": [], "bare": []}
    n = 10_000
    for _ in range(10):
        for side in ("api", "bare"):
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(turn):
                n += 1
                one(n) if side == "api" else one(n, bare_path, bare_body)
            sides[side].append((time.perf_counter() - start) / turn * 1000)
            cpu[side].append((time.process_time() - start_cpu) / turn * 1000)
    api, bare = statistics.median(sides["api"]), statistics.median(sides["bare"])
    api_cpu, bare_cpu = statistics.median(cpu["api"]), statistics.median(cpu["bare"])
    print(f"{name}: API {api:.3f} ms, bare {bare:.3f} ms a request (test client, in process); bare/API {bare / api:.2f}")
    print(f"  this process's CPU: API {api_cpu:.3f} ms, bare {bare_cpu:.3f} ms a request; bare/API {bare_cpu / api_cpu:.2f}")


if __name__ == "__main__":
    main()
