#!/usr/bin/env python
"""What the console costs (run by hand; prints ratios, asserts nothing).

    .venv/bin/python bench/console.py [--deliveries 200000] [--database-url postgres://…/scratch]

  dashboard  one computation of the dashboard's figures (console/dashboard.py), against the
             baseline of counting the delivery table by state and finishing time the way
             /api/metrics does (the scan the dashboard avoids), at the given table size;
  record     health.record for 1,000 attempts, one call per attempt (today's engine) and in
             batches of 100 (a batch engine), against the baseline of writing the 1,000 Attempt
             rows the engine writes anyway (bulk_create in batches of 100).

Uses a fresh SQLite file in a temporary directory, or --database-url (a scratch database: its
tables are created and filled).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from bench.scratch import setup  # noqa: E402  (after the path above)


def best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def fill(deliveries: int) -> list:
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from accounts.models import Customer
    from callnotify.models import CallEvent, CallNotify, Delivery

    customer = Customer.objects.create(name="bench")
    endpoints = CallNotify.objects.bulk_create(
        [CallNotify(customer=customer, url=f"http://192.0.2.{n % 250 + 1}:8080/c{n}", method="POSTJSON", selection="ALL") for n in range(100)])
    now = timezone.now()
    per_event = 100
    for start in range(0, deliveries, 20_000):
        events = CallEvent.objects.bulk_create(
            [CallEvent(call_id=f"bench-{n}", customer=customer, type="SIP", direction="INBOUND", state="RINGING",
                       a_number="+4512345678", b_number="+4570305050", timestamp=now, sequence=1)
             for n in range(start // per_event, (start + 20_000) // per_event)])
        Delivery.objects.bulk_create([
            Delivery(event=events[i // per_event], endpoint=endpoints[i % 100], call_id=events[i // per_event].call_id, sequence=1,
                     state="PENDING" if i % 100 == 0 else "DELIVERED", attempts=1,
                     next_attempt_at=now - timedelta(seconds=i % 600) if i % 100 == 0 else None,
                     finished_at=None if i % 100 == 0 else now - timedelta(minutes=i % 1440))
            for i in range(20_000)], batch_size=5_000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return endpoints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=200_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    setup(args.database_url)

    from django.db import connection, transaction
    from django.utils import timezone

    from callnotify import endpoint_health as health
    from callnotify.models import Attempt, Delivery
    from console import dashboard
    from console.metrics import delivery_counters

    print(f"database: {connection.vendor}; filling {args.deliveries:,} deliveries …", flush=True)
    endpoints = fill(args.deliveries)
    scan = best(delivery_counters)
    figures = best(dashboard.figures)
    if os.environ.get("PROFILE"):
        import cProfile

        cProfile.runctx("dashboard.figures()", globals(), locals(), sort="cumulative")
    print(f"dashboard  {figures * 1000:8.1f} ms   baseline (state counts as /api/metrics) {scan * 1000:8.1f} ms"
          f"   ratio {figures / scan:.3f}")

    delivery_ids = list(Delivery.objects.values_list("id", flat=True)[:1000])
    now = timezone.now()
    outcomes = [health.Outcome(endpoints[n % 100].pk, None, "DELIVERED" if n % 7 else "RETRY", 20 + n % 300, now) for n in range(1000)]

    def attempts() -> None:
        with transaction.atomic():
            rows = [Attempt(delivery_id=pk, number=1, started_at=now, duration_ms=20, outcome="DELIVERED") for pk in delivery_ids]
            for start in range(0, 1000, 100):
                Attempt.objects.bulk_create(rows[start : start + 100])
            transaction.set_rollback(True)

    def one_by_one() -> None:
        with transaction.atomic():
            for outcome in outcomes:
                health.record([outcome])
            transaction.set_rollback(True)

    def batched() -> None:
        with transaction.atomic():
            for start in range(0, 1000, 100):
                health.record(outcomes[start : start + 100])
            transaction.set_rollback(True)

    base, single, batch = best(attempts), best(one_by_one), best(batched)
    print(f"record     1 per call {single * 1000:8.1f} ms   100 per call {batch * 1000:8.1f} ms   "
          f"baseline (the 1,000 Attempt rows) {base * 1000:8.1f} ms   ratios {single / base:.2f} / {batch / base:.2f}")


if __name__ == "__main__":
    main()
