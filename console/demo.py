"""Demo rows for seeddemo: call notify items of the demo customers, and a few calls with finished
deliveries, so the log and admin show something.

Idempotent (items keyed by customer, method and selection; events by the demo call ids). Events
are written finished (DELIVERED / FAILED), never PENDING, so seeding never makes the server
contact the demo endpoints.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TextIO

from django.db import transaction
from django.utils import timezone

from accounts.models import Customer
from callnotify.models import Attempt, CallEvent, CallNotify, Delivery
from console.demo_receiver import FAILING_PATH, demo_urls, receiver_ports

# (customer name, url role in demo_urls, method, selection): every URL is the demo receiver on
# 127.0.0.1 (console/demo_receiver.py), which bin/run starts; nothing is sent off the machine.
CALLNOTIFY = [
    ("Hansen VVS A/S", "json", CallNotify.Method.POSTJSON, CallNotify.Selection.ALL),
    ("Hansen VVS A/S", "tcp", CallNotify.Method.POSTARGS, CallNotify.Selection.SIP),
    ("Jensen Advokater", "get", CallNotify.Method.GET2, CallNotify.Selection.MVNO),
    # Down on purpose (the receiver answers 503): the dashboard's failing endpoint, retried on schedule.
    ("Jensen Advokater", "failing", CallNotify.Method.POSTJSON, CallNotify.Selection.ALL),
]
# Where earlier versions pointed the demo items (shared address space, a real network on an
# operator's premises): re-pointed at the receiver when seeddemo runs on an older database.
LEGACY_URLS = {"http://100.64.10.1:8080/events", "tcp://100.64.10.2:5070", "http://100.64.20.1/calls?key=demo"}
# (call id, type, [(state, seconds after start, duration, cause)])
CALLS = [
    ("demo-call-1@sbc1.telecomx.example", "SIP",
     [("RINGING", 0, None, ""), ("ANSWERED", 4, None, ""), ("HANGUP", 65, 61, "NORMAL_CLEARING")]),
    ("demo-call-2@sbc1.telecomx.example", "SIP", [("RINGING", 300, None, ""), ("HANGUP", 320, 0, "NO_ANSWER")]),
    ("demo-call-3@sbc2.telecomx.example", "MVNO",
     [("RINGING", 600, None, ""), ("ANSWERED", 603, None, ""), ("HANGUP", 700, 97, "NORMAL_CLEARING")]),
]


def _finished_delivery(event: CallEvent, endpoint: CallNotify, failed: bool) -> None:
    """A delivery as the engine leaves it: created with its event, its attempts after that, and
    finished when the last attempt ended."""
    started = event.created_at
    outcomes = [Attempt.Outcome.RETRY, Attempt.Outcome.RETRY, Attempt.Outcome.FAILED] if failed else [Attempt.Outcome.DELIVERED]
    duration_ms = 3 if failed else 41
    attempt_starts = [started + timedelta(milliseconds=20) + timedelta(seconds=35 * n) for n in range(len(outcomes))]
    delivery = Delivery.objects.create(event=event, endpoint=endpoint, call_id=event.call_id, sequence=event.sequence,
                                       state=Delivery.State.FAILED if failed else Delivery.State.DELIVERED,
                                       attempts=len(outcomes), last_status=None if failed else 200,
                                       last_error="connection refused" if failed else "",
                                       finished_at=attempt_starts[-1] + timedelta(milliseconds=duration_ms))
    Delivery.objects.filter(pk=delivery.pk).update(created_at=started)  # auto_now_add: created with its event
    for number, (outcome, at) in enumerate(zip(outcomes, attempt_starts, strict=True), start=1):
        Attempt.objects.create(delivery=delivery, number=number, started_at=at, duration_ms=duration_ms, outcome=outcome,
                               status=None if failed else 200, error="connection refused" if failed else "")


def seed(stdout: TextIO) -> None:
    """seeddemo's hook: the demo customers' call notify items, then the demo calls."""
    seed_items()
    seed_events(stdout)


@transaction.atomic
def seed_items() -> None:
    urls = demo_urls(*receiver_ports())
    for name, role, method, selection in CALLNOTIFY:
        customer = Customer.objects.filter(name=name).first()
        if customer is None:
            continue
        item = customer.callnotify_items.filter(method=method, selection=selection).first()
        if item is None:
            CallNotify.objects.create(customer=customer, url=urls[role], method=method, selection=selection)
        elif item.url in LEGACY_URLS or item.url.startswith(("http://127.0.0.1:", "tcp://127.0.0.1:")):
            # the receiver's port follows PORT (bin/run): keep the demo items pointing at it
            CallNotify.objects.filter(pk=item.pk).update(url=urls[role])


def seed_events(stdout: TextIO) -> None:
    """A few finished calls of the demo customer (idempotent: keyed by the demo call ids)."""
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
                    _finished_delivery(event, endpoint, failed=endpoint.url.startswith("tcp") or FAILING_PATH in endpoint.url)
    stdout.write(f"callnotify demo: {created} call events for {customer.name}\n")
