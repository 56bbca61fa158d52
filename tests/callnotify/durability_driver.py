"""Run in a subprocess by test_durability.py: set up and fill a real database, or report on it.

    python -m tests.callnotify.durability_driver setup SINK_PORT EVENTS
    python -m tests.callnotify.durability_driver more EVENTS FIRST    # more events, numbered from FIRST
    python -m tests.callnotify.durability_driver report
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telecomx.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db.models import Count, Q  # noqa: E402

from accounts.models import Customer  # noqa: E402
from callnotify.ingest import record_call_event  # noqa: E402
from callnotify.models import CallNotify, Delivery  # noqa: E402


def setup(port: int, events: int) -> None:
    call_command("migrate", verbosity=0)
    customer = Customer.objects.create(name="Durability")
    CallNotify.objects.create(customer=customer, url=f"http://127.0.0.1:{port}/hook", method="POSTJSON", selection="ALL")
    more(events, 0)


def more(events: int, first: int) -> None:
    customer = Customer.objects.get(name="Durability")
    when = datetime(2026, 11, 22, 10, 15, tzinfo=timezone.utc)
    for n in range(first, first + events):
        record_call_event(call_id=f"durable-{n}", customer=customer, type="SIP", direction="INBOUND", state="RINGING",
                          a_number="+4512345678", b_number="+4570305050", timestamp=when)
    print(json.dumps({"deliveries": Delivery.objects.count()}))


def report() -> None:
    rows = Delivery.objects.annotate(interrupted=Count("attempt_log", filter=Q(attempt_log__outcome="INTERRUPTED")))
    print(json.dumps({d.event_id: [d.state, d.attempts, d.interrupted] for d in rows}))


if __name__ == "__main__":
    if sys.argv[1] == "setup":
        setup(int(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1] == "more":
        more(int(sys.argv[2]), int(sys.argv[3]))
    else:
        report()
