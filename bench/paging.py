"""The rule list with and without paging, in one process on a fresh SQLite database.

    .venv/bin/python bench/paging.py [--rules 200000] [--repeat 3]

Loads N PREFIX rules, then times `GET /api/sbc/rule` (the whole plain array, the baseline
measured in the same run), one page `?offset=<middle>&limit=100`, and `?peer=` (a tenth of
the rules) through the real middleware, authentication and serializers (Django's test
handler, no network). Prints seconds, bytes and the ratio to the whole list. Run by hand.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
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

    def timed(query: dict[str, str]) -> tuple[float, int]:
        best, size = float("inf"), 0
        for _ in range(args.repeat):
            start = time.perf_counter()
            response = client.get("/api/sbc/rule", query)
            best = min(best, time.perf_counter() - start)
            assert response.status_code == 200, response.content[:200]
            size = len(response.content)
        return best, size

    runs = [("whole list (baseline)", {}), ("one page, limit 100", {"offset": str(args.rules // 2), "limit": "100"}),
            ("?peer=PEER3 (a tenth)", {"peer": "PEER3"}), ("?peer=PEER3, limit 100", {"peer": "PEER3", "limit": "100"})]
    base = None
    print(f"{args.rules:,} rules, best of {args.repeat}")
    print(f"{'request':28} {'seconds':>9} {'bytes':>12} {'time ratio':>11}")
    for label, query in runs:
        seconds, size = timed(query)
        base = base or seconds
        print(f"{label:28} {seconds:9.4f} {size:12,} {seconds / base:11.5f}")


if __name__ == "__main__":
    main()
