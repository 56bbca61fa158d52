"""What one claim costs as the backlog grows, and what another customer gets from it (PostgreSQL).

    .venv/bin/python bench/claims.py [--server postgres://postgres@127.0.0.1:5432/test] [--backlogs 1000,10000,100000,400000]

Makes a database of its own on the server (dropped at the end). For each backlog: one customer
with that many PENDING deliveries spread over 1,000 endpoints (inserted in one statement, as a
burst arrives, with no ANALYZE after it), and another customer with 100 fresh ones on one
endpoint. Times `claim(limit=100)` (the median of 7, each rolled back) and counts the other
customer's deliveries in the batch. Prints each backlog's time and its ratio to the first
(smallest) backlog's, measured in the same run. Run by hand.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--backlogs", default="1000,10000,100000,400000")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    import psycopg

    name = f"bench_claims_{os.getpid()}"
    with psycopg.connect(args.server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        run(urlunsplit(urlsplit(args.server)._replace(path=f"/{name}")), [int(n) for n in args.backlogs.split(",")], args.repeat)
    finally:
        with psycopg.connect(args.server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def run(url: str, backlogs: list[int], repeat: int) -> None:
    os.environ.update(DJANGO_SETTINGS_MODULE="telecomx.settings", DATABASE_URL=url, CALLNOTIFY_IN_PROCESS="off",
                      LOG_LEVEL="WARNING")
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Customer
    from bench import scratch
    from callnotify.delivery import claim
    from callnotify.ingest import record_call_event
    from callnotify.models import CallEvent, CallNotify, Delivery

    call_command("migrate", verbosity=0)
    print(f"{'pending':>9} {'claim ms':>9} {'÷ first':>8} {'other customer in batch':>24}")
    baseline = None
    for backlog in backlogs:
        Delivery.objects.all().delete()
        CallEvent.objects.all().delete()
        CallNotify.objects.all().delete()
        Customer.objects.all().delete()
        hog, other = Customer.objects.create(name="hog"), Customer.objects.create(name="other")
        CallNotify.objects.bulk_create(CallNotify(customer=hog, url=f"http://192.0.2.1:4000/e{n}", method="POSTJSON",
                                                  selection="ALL") for n in range(1000))
        event = {"type": "SIP", "direction": "INBOUND", "state": "RINGING", "a_number": "+4512345678",
                 "b_number": "+4570305050", "timestamp": timezone.now()}
        CallEvent.objects.bulk_create(CallEvent(call_id=f"hog-{n}", customer=hog, **event) for n in range(backlog // 1000))
        scratch.fan_out(hog.pk)
        CallNotify.objects.create(customer=other, url="http://192.0.2.1:4000/other", method="POSTJSON", selection="ALL")
        for n in range(100):
            record_call_event(call_id=f"other-{n}", customer=other, **event)
        now = timezone.now() + timedelta(seconds=1)
        times, theirs = [], 0
        for _ in range(repeat):
            with transaction.atomic():
                start = time.perf_counter()
                batch = claim(now, limit=100)
                times.append(time.perf_counter() - start)
                theirs = sum(job.event.customer == other.pk for job in batch.jobs)
                transaction.set_rollback(True)
        ms = statistics.median(times) * 1000
        baseline = baseline or ms
        print(f"{Delivery.objects.filter(state='PENDING').count():>9,} {ms:>9.1f} {ms / baseline:>8.2f} {theirs:>17} of 100")


if __name__ == "__main__":
    main()
