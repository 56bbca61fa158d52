"""POST /api/callevent with an array (docs/callevents.md §1), per-customer idempotency, and who may report for whom."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from accounts.models import AccessLevel, Customer
from callnotify.delivery import run
from callnotify.models import CallEvent, Delivery
from tests.accounts.factories import CustomerFactory, EmployeeFactory
from tests.callnotify.factories import CallNotifyFactory, service_account

pytestmark = pytest.mark.django_db
URL = "/api/callevent"
NOT_FOUND = {"error": {"code": "customer", "status": 422, "message": "Customer not found", "path": "customer"}}


def event(owner: Customer, call_id: str = "call-1", state: str = "RINGING", **changes: Any) -> dict[str, Any]:
    body = {"callId": call_id, "customer": owner.id, "type": "SIP", "direction": "INBOUND", "state": state,
            "aNumber": "+4512345678", "bNumber": "+4570305050", "timestamp": "2026-11-22T10:15:00Z"}
    body.update(changes)
    return body


def test_a_batch_answers_each_event_in_order_and_a_bad_one_stores_nothing_of_itself(switch) -> None:
    customer = CustomerFactory()
    endpoint = CallNotifyFactory(customer=customer, selection="ALL")
    body = [
        event(customer, "a", "RINGING"),
        event(customer, "a", "ANSWERED", aNumber="12"),  # invalid
        event(customer, "a", "ANSWERED"),
        event(customer, "b", "RINGING", type="FAX", bNumber=""),  # two failures
        event(customer, "a", "RINGING"),  # a repeat inside the batch
        event(customer, "a", "HANGUP", duration=61, cause="NORMAL_CLEARING"),
    ]
    response = switch.post(URL, body, format="json")
    assert response.status_code == 202
    answers = response.json()
    stored = {(e.call_id, e.state): e for e in CallEvent.objects.all()}
    assert set(stored) == {("a", "RINGING"), ("a", "ANSWERED"), ("a", "HANGUP")}
    assert answers[0] == {"_id": stored["a", "RINGING"].id, "sequence": 1, "deliveries": 1}
    assert answers[1] == {"error": {"code": "aNumber", "status": 422, "message": "Invalid aNumber", "path": "aNumber"}}
    assert answers[2] == {"_id": stored["a", "ANSWERED"].id, "sequence": 2, "deliveries": 1}
    assert answers[3]["error"]["code"] == "multiple"
    assert {e["path"] for e in answers[3]["error"]["inner"]} == {"type", "bNumber"}
    assert answers[4] == {"_id": stored["a", "RINGING"].id, "sequence": 1, "deliveries": 0}
    assert answers[5] == {"_id": stored["a", "HANGUP"].id, "sequence": 3, "deliveries": 1}
    assert stored["a", "HANGUP"].duration == 61
    assert list(Delivery.objects.filter(endpoint=endpoint).order_by("sequence").values_list("sequence", flat=True)) == [1, 2, 3]


def test_a_batch_stores_each_event_and_delivery_exactly_as_a_single_post_does(switch) -> None:
    """A batch writes plain rows (core.db.insert_rows), a single post its own INSERT: the same
    columns, values and types either way, the event's offset time, additional and request id too."""
    customer = CustomerFactory()
    CallNotifyFactory(customer=customer, selection="ALL")
    CallNotifyFactory(customer=customer, selection="SIP")
    full = {"timestamp": "2026-11-22T11:15:00.250000+01:00", "duration": 61, "cause": "NORMAL_CLEARING",
            "additional": {"sbcServer": "sbc1", "mvno": "x", "unknown": "dropped"}, "aNumber": "anonymous"}
    single = switch.post(URL, event(customer, "one", "HANGUP", **full), format="json", HTTP_X_REQUEST_ID="req-1")
    batch = switch.post(URL, [event(customer, "many", "HANGUP", **full), event(customer, "bare", "RINGING", type="MVNO")],
                        format="json", HTTP_X_REQUEST_ID="req-1")
    assert single.status_code == batch.status_code == 202
    skip = {"id", "call_id", "created_at"}
    columns = [f.attname for f in CallEvent._meta.concrete_fields if f.attname not in skip]
    one, many, bare = (CallEvent.objects.values(*columns).get(call_id=c) for c in ("one", "many", "bare"))
    assert one == many
    assert many["additional"] == {"sbcServer": "sbc1", "mvno": "x"} and many["request_id"] == "req-1"
    assert many["timestamp"].isoformat() == "2026-11-22T10:15:00.250000+00:00"
    assert (bare["duration"], bare["cause"], bare["additional"], bare["sequence"]) == (None, "", {}, 1)
    delivery_columns = [f.attname for f in Delivery._meta.concrete_fields if f.attname not in {"id", "event_id", "call_id", "created_at", "next_attempt_at"}]
    ones = sorted(Delivery.objects.filter(call_id="one").values_list(*delivery_columns))
    assert ones == sorted(Delivery.objects.filter(call_id="many").values_list(*delivery_columns)) and len(ones) == 2
    assert Delivery.objects.filter(call_id="bare").count() == 1  # MVNO: the ALL endpoint only
    made = Delivery.objects.get(call_id="bare")
    assert made.created_at == made.next_attempt_at == CallEvent.objects.get(call_id="bare").created_at


def test_a_batch_continues_a_call_stored_before_and_repeats_answer_the_stored_event(switch) -> None:
    customer = CustomerFactory()
    first = switch.post(URL, event(customer, "a", "RINGING"), format="json").json()
    answers = switch.post(URL, [event(customer, "a", "HANGUP"), event(customer, "a", "RINGING")], format="json").json()
    assert answers == [{"_id": CallEvent.objects.get(state="HANGUP").id, "sequence": 2, "deliveries": 0},
                       {**first, "deliveries": 0}]


@pytest.mark.parametrize("body", [[event.__name__], [{}, 5], "x", 5])
def test_a_body_that_is_not_an_object_or_an_array_of_objects_is_refused_whole(switch, body) -> None:
    response = switch.post(URL, body, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"
    assert CallEvent.objects.count() == 0


def test_more_than_1000_events_are_refused_whole(switch) -> None:
    customer = CustomerFactory()
    response = switch.post(URL, [event(customer, f"c{n}") for n in range(1001)], format="json")
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "bad_request", "status": 400, "message":
                                         "The request body must be a JSON object or an array of at most 1000 objects"}}
    assert CallEvent.objects.count() == 0


def test_an_empty_array_stores_nothing(switch) -> None:
    response = switch.post(URL, [], format="json")
    assert (response.status_code, response.json()) == (202, [])


def test_a_batch_of_1000_is_stored(switch) -> None:
    customer = CustomerFactory()
    CallNotifyFactory(customer=customer, selection="ALL")
    response = switch.post(URL, [event(customer, f"c{n}") for n in range(1000)], format="json")
    assert response.status_code == 202 and len(response.json()) == 1000
    assert CallEvent.objects.count() == 1000 and Delivery.objects.count() == 1000


def test_a_batch_reaches_the_endpoint_in_call_order(switch, loopback, httpserver) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    customer = CustomerFactory()
    CallNotifyFactory(customer=customer, url=f"http://sink.example.com:{httpserver.port}/hook", selection="ALL")
    body = [event(customer, f"c{n}", state) for state in ("RINGING", "ANSWERED", "HANGUP") for n in range(5)]
    assert switch.post(URL, body, format="json").status_code == 202
    while run():
        pass
    got: dict[str, list[str]] = {}
    for request, _ in httpserver.log:
        got.setdefault(request.get_json()["callId"], []).append(request.get_json()["state"])
    assert got == {f"c{n}": ["RINGING", "ANSWERED", "HANGUP"] for n in range(5)}


# --- idempotency is per customer ---------------------------------------------------------------

def test_the_same_call_id_under_another_customer_is_another_call(switch) -> None:
    one, two = CustomerFactory(), CustomerFactory()
    CallNotifyFactory(customer=two, selection="ALL")
    first = switch.post(URL, event(one, "X"), format="json").json()
    second = switch.post(URL, event(two, "X"), format="json").json()
    assert second["_id"] != first["_id"]
    assert (second["sequence"], second["deliveries"]) == (1, 1)
    assert CallEvent.objects.filter(call_id="X").count() == 2


# --- who may report for whom ---------------------------------------------------------------------

@pytest.fixture
def tree(operator: Customer) -> dict[str, Customer]:
    reseller = CustomerFactory(name="Reseller", is_reseller=True, parent_reseller=operator)
    sub = CustomerFactory(name="Sub-reseller", is_reseller=True, parent_reseller=reseller)
    return {
        "operator": operator, "reseller": reseller, "sub": sub,
        "reseller's customer": CustomerFactory(parent_reseller=reseller),
        "sub's customer": CustomerFactory(parent_reseller=sub),
        "other": CustomerFactory(parent_reseller=operator),
    }


REACH = {
    "operator": {"operator", "reseller", "sub", "reseller's customer", "sub's customer", "other"},
    "reseller": {"reseller", "sub", "reseller's customer", "sub's customer"},
    "sub": {"sub", "sub's customer"},
    "reseller's customer": {"reseller's customer"},
    "other": {"other"},
}


@pytest.mark.parametrize("poster", list(REACH))
def test_a_service_account_reports_only_for_customers_it_reaches(client_for, tree, poster: str) -> None:
    client = client_for(service_account(tree[poster]))
    body = [event(tree[name], f"call-{name}") for name in tree]
    answers = client.post(URL, body, format="json").json()
    reached = {name for name, answer in zip(tree, answers) if "_id" in answer}
    assert reached == REACH[poster]
    assert all(answer == NOT_FOUND for answer in answers if "_id" not in answer)
    assert set(CallEvent.objects.values_list("customer_id", flat=True)) == {tree[name].id for name in REACH[poster]}


def test_an_unreachable_customer_answers_as_an_unknown_one_for_a_single_event(client_for, tree) -> None:
    client = client_for(service_account(tree["reseller's customer"]))
    response = client.post(URL, event(tree["other"]), format="json")
    assert (response.status_code, response.json()) == (422, NOT_FOUND)
    unknown = client.post(URL, event(tree["other"], customer="0" * 24), format="json")
    assert (unknown.status_code, unknown.json()) == (422, NOT_FOUND)
    assert CallEvent.objects.count() == 0


def test_admin_reaches_every_customer(client_for, tree) -> None:
    admin = client_for(EmployeeFactory(access_level=AccessLevel.ADMIN, customer=tree["sub's customer"]))
    answers = admin.post(URL, [event(c, f"call-{n}") for n, c in tree.items()], format="json").json()
    assert all("_id" in answer for answer in answers)


# --- concurrency (PostgreSQL: SQLite has one writer) --------------------------------------------

@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
def test_one_call_spread_over_concurrent_batches_keeps_one_event_per_state_and_a_gapless_sequence(client_for, operator) -> None:
    customer = CustomerFactory()
    CallNotifyFactory(customer=customer, selection="ALL")
    employee = service_account(operator)
    states = ["RINGING", "ANSWERED", "HANGUP"]
    answers: list[list[dict]] = []
    barrier = threading.Barrier(6)

    def post(order: list[str]) -> None:
        from django.db import connection as thread_connection

        client = client_for(employee)
        barrier.wait()
        body = [event(customer, f"call-{n}", state) for n in range(30) for state in order]
        answers.append(client.post(URL, body, format="json").json())
        thread_connection.close()

    threads = [threading.Thread(target=post, args=(states[i:] + states[:i],)) for i in range(3) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == 6 and all(len(a) == 90 and all("_id" in x for x in a) for a in answers)
    for n in range(30):
        events = CallEvent.objects.filter(call_id=f"call-{n}")
        assert sorted(e.state for e in events) == sorted(states)
        assert sorted(e.sequence for e in events) == [1, 2, 3]
    assert Delivery.objects.count() == 90
    ids = {x["_id"] for a in answers for x in a}
    assert ids == set(CallEvent.objects.values_list("id", flat=True))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a statement-level trigger plays the racing poster")
def test_a_batch_that_keeps_losing_races_is_stored_event_by_event_not_refused_whole(switch) -> None:
    """A batch whose every try collides with a concurrent post of the same calls (played here by a
    trigger refusing any multi-row insert of events as a unique violation) was answered 409 whole,
    and the shipped switch drops events on such an answer; its events are now stored one by one."""
    customer = CustomerFactory()
    CallNotifyFactory(customer=customer, selection="ALL")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_refuse_batches() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF (SELECT count(*) FROM new_rows) > 1 THEN"
            " RAISE unique_violation USING MESSAGE = 'a concurrent post took this call''s sequence'; END IF;"
            " RETURN NULL; END $$")
        cursor.execute("CREATE TRIGGER refuse_batches AFTER INSERT ON callnotify_callevent REFERENCING NEW TABLE AS new_rows"
                       " FOR EACH STATEMENT EXECUTE FUNCTION test_refuse_batches()")
    body = [event(customer, "a", "RINGING"), event(customer, "a", "ANSWERED"), event(customer, "b", "RINGING"),
            event(customer, "a", "RINGING"), event(customer, "a", "HANGUP", aNumber="12")]
    response = switch.post(URL, body, format="json")
    assert response.status_code == 202
    stored = {(e.call_id, e.state): e for e in CallEvent.objects.all()}
    assert set(stored) == {("a", "RINGING"), ("a", "ANSWERED"), ("b", "RINGING")}
    assert response.json() == [
        {"_id": stored["a", "RINGING"].id, "sequence": 1, "deliveries": 1},
        {"_id": stored["a", "ANSWERED"].id, "sequence": 2, "deliveries": 1},
        {"_id": stored["b", "RINGING"].id, "sequence": 1, "deliveries": 1},
        {"_id": stored["a", "RINGING"].id, "sequence": 1, "deliveries": 0},
        {"error": {"code": "aNumber", "status": 422, "message": "Invalid aNumber", "path": "aNumber"}},
    ]
    assert Delivery.objects.count() == 3
