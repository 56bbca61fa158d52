"""Claims at size, on PostgreSQL: fair to every customer, disjoint between claimers that race, in
order per call and endpoint, and with a plan that does not depend on the backlog (docs/callevents.md §5).

The claims here are the engine's own (`claim`); a claimed batch is then marked DELIVERED directly,
as `record` would after a successful send, so each test counts exactly what every claim took.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from callnotify.delivery import Batch, claim, share
from callnotify.models import CallNotify, Delivery
from tests.accounts.factories import CustomerFactory
from tests.callnotify.factories import post_event

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL: row locks and plans")


def endpoints(customer, count: int) -> list[CallNotify]:
    return CallNotify.objects.bulk_create(
        CallNotify(customer=customer, url=f"http://192.0.2.1:4000/e{n}", method="POSTJSON", selection="ALL")
        for n in range(count))


def fan_out(customer, events: str = "%") -> int:  # type: ignore[no-untyped-def]
    """Deliveries of all the customer's events (those whose id is LIKE `events`) to all its
    endpoints, as ingestion makes them, in one statement (a backlog of 100,000 through the API
    would take the test minutes)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO callnotify_delivery (id, event_id, endpoint_id, call_id, sequence, state, attempts,"
            " next_attempt_at, created_at, last_error) SELECT substr(md5(e.id || c.id), 1, 24), e.id, c.id, e.call_id,"
            " e.sequence, 'PENDING', 0, e.created_at, e.created_at, '' FROM callnotify_callevent e"
            " JOIN callnotify_callnotify c ON c.customer_id = e.customer_id WHERE e.customer_id = %s AND e.id LIKE %s",
            [customer.pk, events])
        return cursor.rowcount


def three_state_calls(customer, prefix: str) -> None:  # type: ignore[no-untyped-def]
    """30,000 events of the customer in one statement: calls `<prefix>0` … `<prefix>9999`, each
    RINGING, ANSWERED and HANGUP (sequences 1-3), with event ids starting with `prefix`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO callnotify_callevent (id, customer_id, call_id, type, direction, state, a_number, b_number,"
            " timestamp, cause, additional, sequence, created_at, request_id)"
            " SELECT %s || lpad(to_hex(n), 23, '0'), %s, %s || (n / 3), 'SIP', 'INBOUND',"
            " (ARRAY['RINGING', 'ANSWERED', 'HANGUP'])[mod(n, 3) + 1], '+4512345678', '+4570305050', now(), '',"
            " '{}', mod(n, 3) + 1, now(), '' FROM generate_series(0, 29999) AS n", [prefix, customer.pk, prefix])


def delivered(batch: Batch) -> None:
    """What `record` does with a batch whose every send succeeded."""
    Delivery.objects.filter(pk__in=[job.delivery_id for job in batch.jobs]).update(
        state=Delivery.State.DELIVERED, lease_until=None, finished_at=timezone.now())


def test_slots_go_to_customers_in_turn_then_to_their_endpoints_in_turn() -> None:
    waiting = [("b1", "B"), ("b2", "B"), ("b3", "B"), ("a1", "A")]
    assert share(waiting, 6) == {"b1": 1, "b2": 1, "b3": 1, "a1": 3}
    assert share([("a1", "A")], 100) == {"a1": 100}
    assert share(waiting, 1) == {"b1": 1}  # the customer waiting longest goes first
    assert share([], 10) == {}


@on_postgresql
@pytest.mark.django_db
def test_a_customer_with_a_huge_backlog_delays_another_by_no_more_than_its_share() -> None:
    hog, other = CustomerFactory(), CustomerFactory()
    for n in range(100):
        post_event(hog, call_id=f"hog-{n}")
    endpoints(hog, 1000)
    assert fan_out(hog) == 100_000  # over 1,000 endpoints, all due before the other's
    mine = endpoints(other, 1)[0]
    for n in range(200):
        post_event(other, call_id=f"call-{n}")
    assert Delivery.objects.filter(state="PENDING").count() == 100_200

    now = timezone.now() + timedelta(seconds=1)
    taken = []
    for _ in range(6):
        batch = claim(now, limit=100)
        theirs = sum(job.endpoint_id == mine.pk for job in batch.jobs)
        hogs = {job.endpoint_id for job in batch.jobs if job.endpoint_id != mine.pk}
        taken.append((theirs, len(batch.jobs) - theirs, len(hogs)))
        delivered(batch)

    # Half of every batch is the other customer's until its 200 are out (4 batches); the hog's
    # half is spread one delivery per endpoint; then the hog has every slot.
    assert taken == [(50, 50, 50)] * 4 + [(0, 100, 100)] * 2
    assert Delivery.objects.filter(endpoint=mine, state="PENDING").count() == 0


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_claimer_never_waits_for_another_and_they_take_disjoint_endpoints(settings) -> None:
    settings.CALLNOTIFY_CLAIM_SPLIT = 1  # each claim takes every endpoint it can hold
    customer = CustomerFactory()
    endpoints(customer, 10)
    for n in range(5):
        post_event(customer, call_id=f"call-{n}")
    now = timezone.now() + timedelta(seconds=1)
    holding, release = threading.Event(), threading.Event()
    first: list[Batch] = []

    def hold_a_claim_open() -> None:
        try:
            with transaction.atomic():  # the claim's row locks last until this commits
                first.append(claim(now, limit=4))
                holding.set()
                release.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold_a_claim_open)
    thread.start()
    assert holding.wait(30)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")  # a claim that waits for the open one fails here
        second = claim(now, limit=100)
    finally:
        release.set()
        thread.join(30)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    one = {job.endpoint_id for job in first[0].jobs}
    two = {job.endpoint_id for job in second.jobs}
    assert (len(first[0].jobs), len(one)) == (4, 4)  # 4 slots over 10 endpoints: one each
    assert (len(second.jobs), len(two)) == (30, 6) and not one & two  # the other 6 endpoints, 5 deliveries each
    assert claim(now, limit=100).jobs == []  # every endpoint is leased now: none is in two batches


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_claimers_racing_take_each_delivery_once_and_each_call_in_order() -> None:
    customer = CustomerFactory()
    endpoints(customer, 8)
    for n in range(30):
        for state in ("RINGING", "ANSWERED", "HANGUP"):
            post_event(customer, call_id=f"call-{n}", state=state)
    total = Delivery.objects.count()
    assert total == 30 * 3 * 8
    log: list[tuple[str, str, str, int]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def claimer() -> None:
        try:
            start.wait(30)
            idle = 0
            while idle < 20:
                batch = claim(timezone.now() + timedelta(seconds=1), limit=7)
                if not batch.jobs:
                    idle += 1
                    continue
                idle = 0
                with lock:  # logged before its DELIVERED commits: a later claim of the call sees it first
                    log.extend((job.delivery_id, job.endpoint_id, job.event.call_id, job.event.sequence) for job in batch.jobs)
                delivered(batch)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claimer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    assert len(log) == total and len({row[0] for row in log}) == total  # each once
    order: dict[tuple[str, str], list[int]] = {}
    for _, endpoint, call, sequence in log:
        order.setdefault((endpoint, call), []).append(sequence)
    assert all(seqs == sorted(seqs) and len(seqs) == 3 for seqs in order.values())
    assert Delivery.objects.filter(state="PENDING").count() == 0


@on_postgresql
@pytest.mark.django_db
def test_the_claim_plan_at_a_200000_delivery_backlog_has_no_scan_of_the_backlog() -> None:
    hog = CustomerFactory()
    for n in range(100):
        post_event(hog, call_id=f"call-{n % 50}", state=("RINGING", "HANGUP")[n // 50])  # half wait behind the other half
    for n in range(100):
        post_event(hog, call_id=f"late-{n}")
    endpoints(hog, 1000)
    assert fan_out(hog) == 200_000  # and no ANALYZE since

    _assert_no_scan_of_the_backlog(endpoints=1000, claimed=100)


@on_postgresql
@pytest.mark.django_db
def test_the_claim_plan_with_a_deep_backlog_at_two_endpoints_reads_no_backlog_per_delivery() -> None:
    """One customer's busy hour at two endpoints: 30,000 events, every call's three states pending,
    with the statistics of a quiet hour (as many deliveries, all done). With them, the order check
    ("the earliest pending event of its call") took the due index instead of the call index and
    read an endpoint's whole backlog for every candidate: 58 ms a claim at 18,000 pending, and the
    engine's rate fell as its backlog grew."""
    customer = CustomerFactory()
    endpoints(customer, 2)

    def hour(prefix: str) -> None:
        three_state_calls(customer, prefix)
        assert fan_out(customer, events=prefix + "%") == 60_000

    hour("q")
    with connection.cursor() as cursor:  # sent, and analyzed (a vacuum has not yet come by)
        cursor.execute("UPDATE callnotify_delivery SET state = 'DELIVERED' WHERE event_id LIKE 'q%%'")
        cursor.execute("ANALYZE callnotify_delivery")
    hour("b")  # the burst, and no ANALYZE since
    _assert_no_scan_of_the_backlog(endpoints=2, claimed=100, pages=False)


@on_postgresql
@pytest.mark.django_db
def test_the_claim_plan_taking_calls_later_states_reads_no_backlog_per_delivery(settings) -> None:
    """A claim whose picks leave room takes the picked calls' later states too. At an endpoint
    recovering from an outage, 10,000 calls' later states are due behind first states waiting for
    their retry, and 20 calls are due whole: the later states of those 20 are found through the
    call index, not by reading the endpoint's due backlog (statistics taken while everything was due)."""
    settings.CALLNOTIFY_CLAIM_SPLIT = 1
    customer = CustomerFactory()
    endpoints(customer, 1)
    three_state_calls(customer, "b")
    assert fan_out(customer) == 30_000
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE callnotify_delivery")  # statistics with everything due
        cursor.execute("UPDATE callnotify_delivery SET next_attempt_at = now() + interval '1 hour', attempts = 1"
                       " WHERE sequence = 1 AND call_id NOT IN (SELECT 'b' || n FROM generate_series(0, 19) AS n)")
    _assert_no_scan_of_the_backlog(endpoints=1, claimed=60, pages=False)  # 20 calls × 3 states


@pytest.mark.django_db
def test_a_claim_leaves_half_of_few_endpoints_to_a_second_claim_that_runs_beside_it(settings) -> None:
    """Two endpoints with deep backlogs: one batch holding both kept one process's CPU the limit
    (1,420 deliveries/s from a Celery pool of 8); each claim now takes one, and says it left work."""
    settings.CALLNOTIFY_CLAIM_SPLIT = 2
    customer, other = CustomerFactory(), CustomerFactory()
    first, second = endpoints(customer, 2)
    third = endpoints(other, 1)[0]
    for n in range(150):
        post_event(customer, call_id=f"call-{n}")
    now = timezone.now() + timedelta(seconds=1)
    one = claim(now, limit=100)
    assert len(one.jobs) == 100 and len({job.endpoint_id for job in one.jobs}) == 1 and one.left
    two = claim(now, limit=100)  # the other endpoint; the first is still sending
    assert len(two.jobs) == 100 and {job.endpoint_id for job in two.jobs} == {first.pk, second.pk} - {one.jobs[0].endpoint_id}
    assert not two.left  # the only endpoint with due work that no batch holds
    assert not claim(now, limit=100).jobs
    post_event(other, call_id="late")  # a third endpoint, another customer's: ceil(1 / 2) = 1 per claim
    assert {job.endpoint_id for job in claim(now, limit=100).jobs} == {third.pk}

    settings.CALLNOTIFY_CLAIM_SPLIT = 1
    delivered(one)
    delivered(two)
    both = claim(now, limit=100)
    assert {job.endpoint_id for job in both.jobs} == {first.pk, second.pk} and not both.left


@pytest.mark.django_db
def test_a_customer_with_as_many_batches_sending_as_the_split_waits_for_one_to_end(settings) -> None:
    """Batches of a customer with many endpoints filled every worker process, and another
    customer's one batch then waited for CPU (bench/README.md, the fair phase). Alone, a customer
    takes as many batches as there is work: no process idles while work waits."""
    settings.CALLNOTIFY_CLAIM_SPLIT = 2
    busy, other = CustomerFactory(), CustomerFactory()
    endpoints(busy, 6)
    post_event(busy, call_id="wide")  # one delivery to each of 6 endpoints
    now = timezone.now() + timedelta(seconds=1)
    ms = timedelta(milliseconds=1)  # each claim its own moment, as two processes' claims are
    first, second = claim(now, limit=100), claim(now + ms, limit=100)
    assert (len(first.jobs), len(second.jobs)) == (3, 2)  # half of 6 endpoints, then half of the 3 left
    mine = endpoints(other, 1)[0]
    post_event(other, call_id="late")
    theirs = claim(now + 3 * ms, limit=100)
    assert [job.endpoint_id for job in theirs.jobs] == [mine.pk]  # not the busy one's sixth endpoint
    assert claim(now + 4 * ms, limit=100).jobs == []  # the other's batch is sending: the busy one still waits
    delivered(theirs)
    assert len(claim(now + 5 * ms, limit=100).jobs) == 1  # alone again: a third batch for its sixth endpoint


def _assert_no_scan_of_the_backlog(*, endpoints: int, claimed: int, pages: bool = True) -> None:
    """Every statement of one claim, EXPLAIN ANALYZEd: no sequential scan of the deliveries, and no
    probe that reads more than a few batches' worth of rows each time it runs (reading a call's or
    an endpoint's whole backlog per candidate read 6,000 rows a probe at 18,000 pending). With
    `pages`, the pages read too: a few per endpoint with pending deliveries and per delivery claimed
    (not where a quiet hour left dead index entries that only a vacuum removes)."""
    with CaptureQueriesContext(connection) as statements:
        batch = claim(timezone.now() + timedelta(seconds=1), limit=claimed)
    assert len(batch.jobs) == claimed
    plans = {}
    with connection.cursor() as cursor:
        for statement in statements.captured_queries:
            sql = statement["sql"]
            if sql.startswith(("SAVEPOINT", "RELEASE")):
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
            plans[sql[:60]] = cursor.fetchone()[0][0]
    for start, plan in plans.items():
        nodes = list(_nodes(plan["Plan"]))
        seen = [(n["Node Type"], n.get("Relation Name"), n.get("Index Name"), n.get("Actual Rows"),
                 n.get("Rows Removed by Filter"), n.get("Actual Loops")) for n in nodes]
        scans = [n for n in nodes if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "callnotify_delivery"]
        assert not scans, (start, seen)
        probes = [n for n in nodes if n.get("Relation Name") == "callnotify_delivery"
                  and n.get("Actual Rows", 0) + n.get("Rows Removed by Filter", 0) > 4 * claimed]
        assert not probes, (start, seen)
        if pages:
            read = nodes[0].get("Shared Hit Blocks", 0) + nodes[0].get("Shared Read Blocks", 0)
            assert read < 16 * endpoints + 40 * claimed, (start, read, seen)


def _nodes(plan: dict):  # type: ignore[no-untyped-def]
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


@pytest.mark.django_db
def test_a_batch_larger_than_sqlites_compound_select_is_claimed(settings) -> None:
    settings.CALLNOTIFY_CLAIM_SPLIT = 1  # one claim may take every endpoint
    customer = CustomerFactory()
    endpoints(customer, 600)
    post_event(customer, call_id="wide")  # one delivery to each of 600 endpoints
    batch = claim(timezone.now() + timedelta(seconds=1), limit=1000)
    assert len(batch.jobs) == (600 if connection.vendor == "postgresql" else 400)
