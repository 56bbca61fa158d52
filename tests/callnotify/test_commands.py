"""sendtestevent, simulatecalls, prunedeliveries."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from pytest_httpserver import HTTPServer

from callnotify.models import CallEvent, Delivery
from tests.accounts.factories import CustomerFactory
from tests.callnotify.factories import CallNotifyFactory, post_event

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.usefixtures("loopback")
def test_sendtestevent_reports_delivery(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook")
    assert run("sendtestevent", endpoint.id.upper()).startswith(f"delivered: POSTJSON {endpoint.url}: status 200")
    assert len(httpserver.log) == 1


@pytest.mark.usefixtures("loopback")
def test_sendtestevent_fails_loudly(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("", status=404)
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook")
    with pytest.raises(CommandError, match="not delivered: .*status 404.*HTTP 404"):
        run("sendtestevent", endpoint.id)
    with pytest.raises(CommandError, match="Call notify not found"):
        run("sendtestevent", "nope")


def test_simulatecalls_stores_realistic_call_sequences() -> None:
    endpoint = CallNotifyFactory()
    output = run("simulatecalls", "--calls", "20", "--rate", "100", "--speed", "10000", "--customer", endpoint.customer_id)
    events = CallEvent.objects.all()
    outbound = events.filter(direction="OUTBOUND", state="RINGING").count()
    assert output == (f"20 calls: {events.count()} events stored, {Delivery.objects.count()} deliveries queued, "
                      f"{outbound} outbound calls routed\n")
    assert events.values("call_id").distinct().count() == 20
    for call_id in events.values_list("call_id", flat=True).distinct():
        states = list(events.filter(call_id=call_id).order_by("sequence").values_list("state", flat=True))
        assert states in (["RINGING", "ANSWERED", "HANGUP"], ["RINGING", "HANGUP"])
        assert list(events.filter(call_id=call_id).order_by("sequence").values_list("sequence", flat=True)) == list(range(1, len(states) + 1))
    assert Delivery.objects.count() == events.count()  # one endpoint, selection ALL


def test_simulatecalls_needs_a_customer_with_endpoints() -> None:
    CustomerFactory()
    with pytest.raises(CommandError, match="No active customer"):
        run("simulatecalls", "--calls", "1")


def test_prunedeliveries_removes_only_old_finished_rows(settings) -> None:
    customer = CallNotifyFactory().customer
    for call_id in ("old-done", "old-pending", "new-done"):
        post_event(customer, call_id=call_id)
    long_ago = timezone.now() - timedelta(days=31)
    Delivery.objects.filter(call_id="old-done").update(state="DELIVERED", finished_at=long_ago)
    Delivery.objects.filter(call_id="new-done").update(state="FAILED", finished_at=timezone.now())
    CallEvent.objects.filter(call_id__startswith="old").update(created_at=long_ago)
    Delivery.objects.filter(call_id="old-pending").update(created_at=long_ago)

    from callnotify import endpoint_health as health

    health.record([health.Outcome(customer.callnotify_items.get().pk, None, "DELIVERED", 5, long_ago)])
    assert run("prunedeliveries") == ("removed 1 deliveries and 1 events older than 30 days\n"
                                      "removed 2 per-minute health and dashboard rows older than two days\n")
    assert set(Delivery.objects.values_list("call_id", flat=True)) == {"old-pending", "new-done"}
    assert set(CallEvent.objects.values_list("call_id", flat=True)) == {"old-pending", "new-done"}
    assert run("prunedeliveries", "--days", "0").startswith("removed 1 deliveries and 1 events older than 0 days\n")
    assert set(Delivery.objects.values_list("call_id", flat=True)) == {"old-pending"}


def test_demo_seed_is_idempotent_and_never_leaves_work_pending() -> None:
    from console import demo

    CallNotifyFactory(customer=CustomerFactory(name="Hansen VVS A/S"), url="tcp://127.0.0.1:5070")
    out = StringIO()
    demo.seed_events(out)  # (demo.seed also makes the demo customers' items: tests/callnotify/test_demo.py)
    demo.seed_events(out)
    assert out.getvalue().splitlines() == ["callnotify demo: 8 call events for Hansen VVS A/S",
                                           "callnotify demo: 0 call events for Hansen VVS A/S"]
    assert CallEvent.objects.count() == 8 and Delivery.objects.count() == 8
    assert not Delivery.objects.filter(state="PENDING").exists()


def test_simulatecalls_routes_outbound_calls_and_counts_the_decisions_for_the_dashboard(settings) -> None:
    from django.db.models import Sum

    from core.models import MinuteCount
    from sbcrules.index import routing_index
    from tests.sbcrules.factories import PeerFactory

    settings.ROUTING_COUNTS_FLUSH_SECONDS = 3600  # one flush at the end, by the command
    routing_index.reset()
    PeerFactory(id="TDC", is_default=True)
    endpoint = CallNotifyFactory()
    run("simulatecalls", "--calls", "30", "--rate", "100", "--speed", "10000", "--customer", endpoint.customer_id)
    outbound = CallEvent.objects.filter(direction="OUTBOUND")
    assert outbound.exists() and all(e.additional["destinationPeer"] == "TDC" for e in outbound)
    counted = MinuteCount.objects.filter(name="route.default").aggregate(n=Sum("count"))["n"]
    assert counted == outbound.filter(state="RINGING").count()
    routing_index.reset()
