"""One call's events reach an endpoint in sequence order; one slow endpoint holds back no other (docs/callevents.md §5)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from pytest_httpserver import HTTPServer

from callnotify.delivery import attempt_delivery, claim, record, run, send
from callnotify.models import CallNotify, Delivery
from callnotify.sweep import held, sweep
from tests.accounts.factories import CustomerFactory
from tests.callnotify.factories import CallNotifyFactory, post_event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback")]


@pytest.fixture
def t0() -> datetime:
    return timezone.now() + timedelta(seconds=5)  # after every delivery the test stores


def received_states(server: HTTPServer) -> list[str]:
    return [json.loads(request.get_data())["state"] for request, _ in server.log]


def call_deliveries(endpoint: CallNotify, call_id: str = "call-1") -> list[Delivery]:
    for state in ("RINGING", "ANSWERED", "HANGUP"):
        post_event(endpoint.customer, call_id=call_id, state=state)
    return list(Delivery.objects.filter(endpoint=endpoint, call_id=call_id).order_by("sequence"))


def test_later_events_wait_while_the_first_is_retried(httpserver: HTTPServer, t0: datetime) -> None:
    httpserver.expect_ordered_request("/hook").respond_with_data("", status=500)
    for _ in range(3):
        httpserver.expect_ordered_request("/hook").respond_with_data("ok")
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook")
    ringing, answered, hangup = call_deliveries(endpoint)
    assert [d.sequence for d in (ringing, answered, hangup)] == [1, 2, 3]

    assert attempt_delivery(ringing.id, now=t0) == "retry"
    # The later events' messages arrive meanwhile, in any order: they wait.
    assert attempt_delivery(hangup.id, now=t0) == "skipped"
    assert attempt_delivery(answered.id, now=t0) == "skipped"
    assert claim(t0).jobs == []  # nothing of this call is due while RINGING waits for its retry

    retry_at = Delivery.objects.get(pk=ringing.pk).next_attempt_at
    assert attempt_delivery(hangup.id, now=retry_at) == "skipped"
    assert attempt_delivery(ringing.id, now=retry_at) == "delivered"
    assert attempt_delivery(hangup.id, now=retry_at) == "skipped"  # ANSWERED is still before it
    # A whole batch: the rest of the call, waiting together, goes in it, in order.
    assert run(retry_at) == {answered.id: "delivered", hangup.id: "delivered"}
    assert received_states(httpserver) == ["RINGING", "RINGING", "ANSWERED", "HANGUP"]


def test_a_call_s_waiting_states_go_in_one_batch_in_order_and_stop_where_one_is_not_delivered(
    httpserver: HTTPServer, t0: datetime
) -> None:
    httpserver.expect_ordered_request("/hook").respond_with_data("", status=500)
    for _ in range(3):
        httpserver.expect_ordered_request("/hook").respond_with_data("ok")
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook")
    ringing, answered, hangup = call_deliveries(endpoint)
    batch = claim(t0)
    assert [job.delivery_id for job in batch.jobs] == [ringing.id, answered.id, hangup.id]  # one claim, the whole call
    assert record(batch, [o for _, lanes in send(batch) for lane in lanes for o in lane.result()]) == {
        ringing.id: "retry", answered.id: "skipped", hangup.id: "skipped"}
    assert received_states(httpserver) == ["RINGING"]  # the later states were not sent after a failure
    later = Delivery.objects.filter(pk__in=[answered.id, hangup.id])
    assert {(d.state, d.attempts, d.lease_until) for d in later} == {("PENDING", 0, None)}
    assert not later.filter(attempt_log__isnull=False).exists()

    retry_at = Delivery.objects.get(pk=ringing.pk).next_attempt_at
    assert run(retry_at, limit=2) == {ringing.id: "delivered", answered.id: "delivered"}  # the slots cut the chain
    assert run(retry_at) == {hangup.id: "delivered"}
    assert received_states(httpserver) == ["RINGING", "RINGING", "ANSWERED", "HANGUP"]


def test_a_replayed_first_state_brings_no_later_state_past_one_still_waiting_for_its_retry(
    httpserver: HTTPServer, t0: datetime
) -> None:
    """RINGING failed and is replayed; ANSWERED waits for its retry; HANGUP is due. The replayed
    RINGING goes alone: HANGUP may not pass the ANSWERED still waiting between them."""
    from callnotify.delivery import retry_now

    httpserver.expect_ordered_request("/hook").respond_with_data("", status=404)  # RINGING: failed for good
    httpserver.expect_ordered_request("/hook").respond_with_data("", status=500)  # ANSWERED: a retry
    httpserver.expect_ordered_request("/hook").respond_with_data("ok")  # RINGING replayed
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook")
    ringing, answered, hangup = call_deliveries(endpoint)
    assert attempt_delivery(ringing.id, now=t0) == "failed"
    assert attempt_delivery(answered.id, now=t0) == "retry"
    assert retry_now([ringing.id], now=t0) == 1
    assert [job.delivery_id for job in claim(t0).jobs] == [ringing.id]
    assert received_states(httpserver) == ["RINGING", "ANSWERED"]


def test_a_call_s_later_states_only_fill_the_room_other_calls_first_states_left(t0: datetime, settings) -> None:
    settings.CALLNOTIFY_CLAIM_SPLIT = 1
    endpoint = CallNotifyFactory(url="http://192.0.2.1:4000/hook")  # nothing is sent
    a1, a2, _ = call_deliveries(endpoint, "call-a")
    (b1,) = [d for d in call_deliveries(endpoint, "call-b") if d.sequence == 1]
    assert [job.delivery_id for job in claim(t0, limit=3).jobs] == [a1.id, a2.id, b1.id]


def test_a_failed_first_event_lets_the_next_one_go(httpserver: HTTPServer, t0: datetime) -> None:
    httpserver.expect_ordered_request("/hook").respond_with_data("", status=404)
    httpserver.expect_ordered_request("/hook").respond_with_data("ok")
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook")
    ringing, answered, _ = call_deliveries(endpoint)
    assert attempt_delivery(ringing.id, now=t0) == "failed"
    assert attempt_delivery(answered.id, now=t0) == "delivered"


def test_a_retrying_call_does_not_hold_back_other_calls(httpserver: HTTPServer, t0: datetime) -> None:
    httpserver.expect_ordered_request("/hook").respond_with_data("", status=500)
    httpserver.expect_ordered_request("/hook").respond_with_data("ok")
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook")
    first = call_deliveries(endpoint, "call-a")[0]
    other = call_deliveries(endpoint, "call-b")[0]
    assert attempt_delivery(first.id, now=t0) == "retry"
    assert attempt_delivery(other.id, now=t0) == "delivered"


def test_a_busy_endpoint_defers_its_own_deliveries_but_not_others(httpserver: HTTPServer, settings, t0: datetime) -> None:
    settings.CALLNOTIFY_ENDPOINT_CONCURRENCY = 1
    httpserver.expect_request("/hook").respond_with_data("ok")
    customer = CustomerFactory()
    slow = CallNotifyFactory(customer=customer, url=f"http://sink.example.com:{httpserver.port}/slow")
    healthy = CallNotifyFactory(customer=customer, url=f"http://sink.example.com:{httpserver.port}/hook")
    post_event(customer, call_id="a")
    post_event(customer, call_id="b")
    slow_a, slow_b = Delivery.objects.filter(endpoint=slow).order_by("call_id")
    assert claim(t0, only=[slow_a.id]).jobs  # a batch is stuck on the slow endpoint

    assert attempt_delivery(slow_b.id, now=t0) == "skipped"
    # The busy endpoint gets nothing more; the healthy one all its due deliveries, one connection at a time.
    healthy_ids = set(Delivery.objects.filter(endpoint=healthy).values_list("id", flat=True))
    assert run(t0) == dict.fromkeys(healthy_ids, "delivered")


def test_sweep_requeues_only_overdue_deliveries(settings, t0: datetime, httpserver: HTTPServer) -> None:
    settings.CALLNOTIFY_SWEEP_GRACE_SECONDS = 60
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook")
    [ringing, answered, hangup] = call_deliveries(endpoint)
    assert sweep(now=t0) == 0  # just stored: its own hint is still on the way
    # Overdue: the call's first event, and hints for it; its two later events are held behind it.
    assert sweep(now=t0 + timedelta(seconds=61)) == 1
    assert held(t0 + timedelta(seconds=61)).count() == 2
    assert httpserver.log == []  # the sweep queues, it does not send


def test_an_endpoint_in_a_batch_is_left_out_of_other_batches_until_that_one_is_recorded(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook")
    first = Delivery.objects.get(event=post_event(endpoint.customer, call_id="a").event)
    batch = claim(timezone.now(), only=[first.id])
    assert [job.delivery_id for job in batch.jobs] == [first.id]
    second = Delivery.objects.get(event=post_event(endpoint.customer, call_id="b").event)
    assert run() == {}  # the endpoint is in a batch still sending

    [(group, lanes)] = send(batch)
    assert record(batch, [o for lane in lanes for o in lane.result()]) == {first.id: "delivered"}
    assert run() == {second.id: "delivered"}


def test_one_batch_sends_each_call_in_order_and_at_most_the_endpoint_share_at_once(settings) -> None:
    """Many calls to two endpoints in batches: every call arrives in sequence order at each endpoint,
    and no endpoint ever sees more than CALLNOTIFY_ENDPOINT_CONCURRENCY requests at once."""
    import threading
    import time as time_module
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    settings.CALLNOTIFY_ENDPOINT_CONCURRENCY = 3
    seen: dict[str, list[tuple[str, int]]] = {"/a": [], "/b": []}
    active = {"/a": 0, "/b": 0}
    peak = {"/a": 0, "/b": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                active[self.path] += 1
                peak[self.path] = max(peak[self.path], active[self.path])
            time_module.sleep(0.002)
            with lock:
                active[self.path] -= 1
                seen[self.path].append((body["callId"], body["sequence"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        customer = CustomerFactory()
        for path in ("/a", "/b"):
            CallNotifyFactory(customer=customer, url=f"http://sink.example.com:{server.server_port}{path}")
        for n in range(20):
            for state in ("RINGING", "ANSWERED", "HANGUP"):
                post_event(customer, call_id=f"call-{n}", state=state)
        while run(limit=30):  # a call's waiting states go in one batch, in one lane, in order
            pass
    finally:
        server.shutdown()
        server.server_close()
    assert set(Delivery.objects.values_list("state", flat=True)) == {"DELIVERED"}
    for path in ("/a", "/b"):
        assert len(seen[path]) == 60
        for n in range(20):
            assert [s for c, s in seen[path] if c == f"call-{n}"] == [1, 2, 3]
        assert 1 <= peak[path] <= 3
