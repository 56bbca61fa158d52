"""The rule list with and without paging, in one process on a fresh SQLite database.

    .venv/bin/python bench/paging.py [--rules 200000] [--repeat 3]

Loads N PREFIX rules, then times, in the same run: the bare baseline (the same rows read with
`values()` and written with json.dumps, no HTTP), `GET /api/sbc/rule` (the whole plain array),
one page `?offset=<middle>&limit=100`, and `?peer=` (a tenth of the rules), through the real
middleware, authentication and serializers (Django's test handler, no network). Prints seconds,
bytes, the ratio to the bare baseline, and the peak of memory allocated while answering
(tracemalloc, measured in a separate pass so that it does not weigh on the times). Run by hand.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rules", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-paging-"))
    os.environ.update(DJANGO_SETTINGS_MODULE="telecomx.settings", DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
                      TELECOMX_DATA_DIR=str(workdir), API_RATE_USER="1000000/min", CALLNOTIFY_IN_PROCESS="off")
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ["LOG_LEVEL"] = "WARNING"  # not one request log line per call
    import django

    django.setup()
    from django.core.management import call_command
    from rest_framework.test import APIClient

    from accounts.models import AccessLevel, Customer, Employee, Token
    from sbcrules.models import Peer, Rule

    call_command("migrate", verbosity=0)
    customer = Customer.objects.create(name="Bench", is_reseller=True, features=["FINANCE", "TELE"])
    admin = Employee.objects.create_user("bench@example.com", None, customer=customer, access_level=AccessLevel.ADMIN)
    peers = [Peer.objects.create(id=f"PEER{n}") for n in range(10)]
    Rule.objects.bulk_create((Rule(type="PREFIX", condition=f"+{n + 1}", peer=peers[n % 10]) for n in range(args.rules)),
                             batch_size=5000)
    client = APIClient(HTTP_HOST="127.0.0.1")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {Token.objects.issue(admin, persist=True)[1]}")

    import json

    def bare() -> bytes:
        rows = Rule.objects.order_by("id").values("id", "type", "condition", "peer_id", "note")
        return json.dumps([{"_id": r["id"], "type": r["type"], "condition": r["condition"], "peer": r["peer_id"],
                            "note": r["note"]} for r in rows]).encode()

    def api(query: dict[str, str]) -> bytes | int:
        response = client.get("/api/sbc/rule", query)
        assert response.status_code == 200
        if response.streaming:  # a whole list: read chunk by chunk, as a socket would carry it
            return sum(len(chunk) for chunk in response.streaming_content)
        return response.content

    def timed(answer) -> tuple[float, int, int]:  # type: ignore[no-untyped-def]
        best, size = float("inf"), 0
        for _ in range(args.repeat):
            start = time.perf_counter()
            got = answer()
            size = got if isinstance(got, int) else len(got)
            best = min(best, time.perf_counter() - start)
        tracemalloc.start()
        answer()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return best, size, peak

    runs = [("bare values() + json.dumps", bare), ("whole list", lambda: api({})),
            ("one page, limit 100", lambda: api({"offset": str(args.rules // 2), "limit": "100"})),
            ("?peer=PEER3 (a tenth)", lambda: api({"peer": "PEER3"})),
            ("?peer=PEER3, limit 100", lambda: api({"peer": "PEER3", "limit": "100"}))]
    base = None
    print(f"{args.rules:,} rules, best of {args.repeat}")
    print(f"| request | seconds | bytes | ÷ bare | peak MB |\n|---|---:|---:|---:|---:|")
    for label, answer in runs:
        seconds, size, peak = timed(answer)
        base = base or seconds
        print(f"| {label} | {seconds:.4f} | {size:,} | {seconds / base:.2f} | {peak / 1e6:.1f} |")


if __name__ == "__main__":
    main()
