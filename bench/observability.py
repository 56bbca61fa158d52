"""What metrics, request ids and the JSON log add to one route look-up (issue 19), run by hand:

    .venv/bin/python bench/observability.py [--lookups 3000]

In one process with PROMETHEUS_MULTIPROC_DIR set (as under gunicorn), it times:

- the per-request metric work of a route look-up: the decision counter, the request counter,
  the request and look-up histograms (memory-mapped files, as in production);
- the request id (kept or made) and the request's JSON log line, formatted and written (to
  /dev/null, so the terminal's speed is not measured);
- a whole route look-up through Django (the middleware stack, token check, DRF, the index) on a
  fresh SQLite database, as the baseline measured in the same run;

and prints each, and the share of the look-up that the first two take. Best of --repeat runs,
because the machine may be busy with other work.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="telecomx-bench-metrics-"))

from bench.scratch import setup  # noqa: E402


def best(fn, n: int, repeat: int) -> float:
    """Seconds per call, the best of `repeat` runs of `n` calls."""
    result = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        result = min(result, (time.perf_counter() - started) / n)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    setup(None)

    from django.test import Client

    from accounts.models import AccessLevel, Customer, Employee, Token
    from core import metrics
    from core.logs import JsonFormatter, safe_request_id
    from sbcrules.index import mark_routing_changed
    from sbcrules.models import Host, Peer

    peer = Peer.objects.create(id="TDC", name="TDC", default=True)
    Host.objects.create(peer=peer, address="192.0.2.1")
    mark_routing_changed()
    customer = Customer.objects.create(name="Bench", is_reseller=True, features=["TELE"])
    admin = Employee.objects.create_user("bench@example.com", None, customer=customer, access_level=AccessLevel.ADMIN)
    token = Token.objects.issue(admin, persist=True)[1]

    def metric_work() -> None:
        metrics.ROUTE_LOOKUPS.labels("default").inc()
        metrics.HTTP_REQUESTS.labels("sbc-route", "2xx").inc()
        metrics.HTTP_REQUEST_SECONDS.labels("sbc-route").observe(0.0012)
        metrics.ROUTE_LOOKUP_SECONDS.observe(0.0012)

    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("bench.requests")
    log.handlers, log.propagate, log.level = [handler], False, logging.INFO

    def log_work() -> None:
        rid = safe_request_id("kamailio-1:4f1c")
        log.info("%s %s %s", "GET", "/api/sbc/route", 200, extra={
            "requestId": rid, "method": "GET", "path": "/api/sbc/route", "status": 200, "durationMs": 1.2,
            "employee": "6b112ee3a525fabb1f42046b", "apiKey": "6b112ee3a525fabb1f42046c", "apiKeyName": "kamailio-1"})

    logging.getLogger().setLevel(logging.WARNING)  # the look-ups' own request lines: measured above, not twice
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="localhost")
    path = "/api/sbc/route?bnumber=%2B4570305050"
    assert client.get(path).status_code == 200

    def lookup() -> None:
        client.get(path)

    m = best(metric_work, 20000, args.repeat)
    lg = best(log_work, 20000, args.repeat)
    total = best(lookup, args.lookups, args.repeat)
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    print("| work per route look-up | µs | share of a look-up |")
    print("|---|---:|---:|")
    print(f"| metrics (2 counters, 2 histograms, memory-mapped) | {m * 1e6:.1f} | {m / total:.1%} |")
    print(f"| request id + JSON request log line | {lg * 1e6:.1f} | {lg / total:.1%} |")
    print(f"| a whole route look-up through Django (in-process, SQLite) | {total * 1e6:.0f} | 100% |")


if __name__ == "__main__":
    main()
