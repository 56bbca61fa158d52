"""Generate realistic calls (RINGING, then ANSWERED or not, then HANGUP) through the ingestion code."""

from __future__ import annotations

import heapq
import random
import time
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.models import Customer
from callnotify.ingest import record_call_event
from callnotify.models import CallNotify
from core.ids import new_id, normalize_id
from sbcrules.counts import routing_counts
from sbcrules.lookup import route_call

CAUSES_UNANSWERED = ["NO_ANSWER", "BUSY", "ORIGINATOR_CANCEL"]


def _number() -> str:
    return "+45" + str(random.randint(20000000, 99999999))


def plan_call(start: float, customer: Customer) -> list[tuple[float, dict]]:
    """One call's events as (seconds from start, fields): ring 1-4 s, 70 % answered, talk 2-20 s."""
    call_id = f"sim-{new_id()}@sbc1.telecomx.example"
    base = {"call_id": call_id, "customer": customer, "type": random.choice(["SIP", "SIP", "MVNO"]),
            "direction": random.choice(["INBOUND", "OUTBOUND"]), "a_number": random.choice([_number()] * 9 + ["anonymous"]),
            "b_number": _number(), "additional": {"sbcServer": "sbc1", "sourcePeer": "TDC", "destinationPeer": "TELENOR"}}
    ring = random.uniform(1, 4)
    events = [(start, {**base, "state": "RINGING"})]
    if random.random() < 0.7:
        talk = random.randint(2, 20)
        events.append((start + ring, {**base, "state": "ANSWERED"}))
        events.append((start + ring + talk, {**base, "state": "HANGUP", "duration": talk, "cause": "NORMAL_CLEARING"}))
    else:
        events.append((start + ring, {**base, "state": "HANGUP", "duration": 0, "cause": random.choice(CAUSES_UNANSWERED)}))
    return events


class Command(BaseCommand):
    help = "Simulate N calls starting at R per second; their events go through the same code as POST /api/callevent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--calls", type=int, default=10)
        parser.add_argument("--rate", type=float, default=1.0, help="calls started per second")
        parser.add_argument("--customer", help="customer id (default: the active customers with endpoints, in turn)")
        parser.add_argument("--speed", type=float, default=1.0, help="run the clock this many times faster (tests, demos)")

    def handle(self, *args: object, calls: int, rate: float, customer: str | None, speed: float, **options: object) -> None:
        if calls < 1 or rate <= 0 or speed <= 0:
            raise CommandError("--calls must be 1 or more, --rate and --speed above 0")
        customers = self._customers(customer)
        timeline: list[tuple[float, int, dict]] = []
        for n in range(calls):
            # Customers take turns, so every one of them gets calls once N reaches their number.
            for offset, fields in plan_call(n / rate, customers[n % len(customers)]):
                heapq.heappush(timeline, (offset, len(timeline), fields))
        started, origin = time.monotonic(), timezone.now()
        stored = queued = routed = 0
        while timeline:
            offset, _, fields = heapq.heappop(timeline)
            time.sleep(max(0.0, offset / speed - (time.monotonic() - started)))
            if fields["direction"] == "OUTBOUND" and fields["state"] == "RINGING":
                routed += self._route(fields, timeline)
            recorded = record_call_event(timestamp=origin + timedelta(seconds=offset), **fields)
            stored, queued = stored + 1, queued + recorded.deliveries
        routing_counts.flush()  # this process's decisions, for the dashboard
        self.stdout.write(f"{calls} calls: {stored} events stored, {queued} deliveries queued, {routed} outbound calls routed")

    @staticmethod
    def _route(fields: dict, timeline: list[tuple[float, int, dict]]) -> int:
        """An outbound call asks the route look-up first, as the switch would; its events name the peer chosen."""
        try:
            decision = route_call(bnumber=fields["b_number"], customer=fields["customer"].pk)
        except ValidationError:
            return 0
        for _, _, later in timeline:
            if later["call_id"] == fields["call_id"]:
                later["additional"] = {**later["additional"], "destinationPeer": decision.peer or "none"}
        fields["additional"] = {**fields["additional"], "destinationPeer": decision.peer or "none"}
        return 1

    def _customers(self, customer_id: str | None) -> list[Customer]:
        if customer_id:
            found = Customer.objects.filter(pk=normalize_id(customer_id)).first()
            if found is None:
                raise CommandError(f"Customer not found: {customer_id}")
            return [found]
        with_endpoints = list(Customer.objects.filter(state=Customer.State.ACTIVE,
                                                      callnotify_items__state=CallNotify.State.ACTIVE).distinct())
        if not with_endpoints:
            raise CommandError("No active customer has an active call notify item; pass --customer")
        return with_endpoints


