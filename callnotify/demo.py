"""Demo rows for seeddemo: call notify items of the demo customers, and a few calls with finished
deliveries, so the log and admin show something.

Idempotent (items made for a demo customer that has none, events keyed by the demo call ids). Rows are written finished (DELIVERED / FAILED), never
PENDING, so seeding never makes the server contact the demo endpoints.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TextIO

from django.db import transaction
from django.utils import timezone

from accounts.models import Customer
from callnotify.models import Attempt, CallEvent, CallNotify, Delivery

# (customer name, url, method, selection)
CALLNOTIFY = [
    ("Hansen VVS A/S", "http://100.64.10.1:8080/events", CallNotify.Method.POSTJSON, CallNotify.Selection.ALL),
    ("Hansen VVS A/S", "tcp://100.64.10.2:5070", CallNotify.Method.POSTARGS, CallNotify.Selection.SIP),
    ("Jensen Advokater", "http://100.64.20.1/calls?key=demo", CallNotify.Method.GET2, CallNotify.Selection.MVNO),
]
# (call id, type, [(state, seconds after start, duration, cause)])
CALLS = [
    ("demo-call-1@sbc1.telecomx.example", "SIP",
     [("RINGING", 0, None, ""), ("ANSWERED", 4, None, ""), ("HANGUP", 65, 61, "NORMAL_CLEARING")]),
    ("demo-call-2@sbc1.telecomx.example", "SIP", [("RINGING", 300, None, ""), ("HANGUP", 320, 0, "NO_ANSWER")]),
    ("demo-call-3@sbc2.telecomx.example", "MVNO",
     [("RINGING", 600, None, ""), ("ANSWERED", 603, None, ""), ("HANGUP", 700, 97, "NORMAL_CLEARING")]),
]


def _finished_delivery(event: CallEvent, endpoint: CallNotify, failed: bool) -> None:
    started = event.created_at
    delivery = Delivery.objects.create(event=event, endpoint=endpoint, call_id=event.call_id, sequence=event.sequence,
                                       state=Delivery.State.FAILED if failed else Delivery.State.DELIVERED,
                                       attempts=3 if failed else 1, last_status=None if failed else 200,
                                       last_error="connection refused" if failed else "", finished_at=started)
    outcomes = [Attempt.Outcome.RETRY, Attempt.Outcome.RETRY, Attempt.Outcome.FAILED] if failed else [Attempt.Outcome.DELIVERED]
    for number, outcome in enumerate(outcomes, start=1):
        Attempt.objects.create(delivery=delivery, number=number, started_at=started + timedelta(seconds=35 * (number - 1)),
                               duration_ms=3 if failed else 41, outcome=outcome, status=None if failed else 200,
                               error="connection refused" if failed else "")


def seed(stdout: TextIO) -> None:
    with transaction.atomic():
        # A demo customer gets its items once: one that has any (seeded before, or made by hand) keeps them.
        for name in dict.fromkeys(row[0] for row in CALLNOTIFY):
            owner = Customer.objects.filter(name=name).first()
            if owner is not None and not owner.callnotify_items.exists():
                CallNotify.objects.bulk_create(
                    CallNotify(customer=owner, url=url, method=method, selection=selection)
                    for customer, url, method, selection in CALLNOTIFY if customer == name
                )
    customer = (Customer.objects.filter(name="Hansen VVS A/S").first()
                or Customer.objects.filter(state=Customer.State.ACTIVE, callnotify_items__isnull=False).first())
    if customer is None:
        stdout.write("callnotify demo: no customer with call notify items; no demo events\n")
        return
    created = 0
    start = timezone.now().replace(microsecond=0) - timedelta(hours=2)
    with transaction.atomic():
        for call_id, call_type, states in CALLS:
            if CallEvent.objects.filter(call_id=call_id).exists():
                continue
            for sequence, (state, offset, duration, cause) in enumerate(states, start=1):
                event = CallEvent.objects.create(
                    call_id=call_id, customer=customer, type=call_type, direction="INBOUND", state=state,
                    a_number="+4512345678", b_number="+4570305050", timestamp=start + timedelta(seconds=offset),
                    duration=duration, cause=cause, sequence=sequence,
                    additional={"sbcServer": call_id.split("@")[1].split(".")[0], "sourcePeer": "TDC"},
                )
                created += 1
                for endpoint in customer.callnotify_items.filter(selection__in=[call_type, "ALL"]):
                    _finished_delivery(event, endpoint, failed=endpoint.url.startswith("tcp"))
    stdout.write(f"callnotify demo: {created} call events for {customer.name}\n")
