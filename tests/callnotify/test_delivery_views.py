"""GET .../callnotify/<ID>/deliveries and POST .../callnotify/<ID>/test (docs/callevents.md §5)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from pytest_httpserver import HTTPServer

from accounts.models import AccessLevel
from callnotify.delivery import attempt_delivery
from callnotify.models import CallEvent, CallNotify, Delivery
from tests.accounts.factories import CustomerFactory, EmployeeFactory
from tests.callnotify.factories import T0, CallNotifyFactory, post_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint() -> CallNotify:
    return CallNotifyFactory()


@pytest.fixture
def owner(client_for, endpoint: CallNotify):
    return client_for(EmployeeFactory(customer=endpoint.customer, access_level=AccessLevel.OWNER))


def url(endpoint: CallNotify, action: str = "deliveries") -> str:
    return f"/api/customer/{endpoint.customer_id}/callnotify/{endpoint.id}/{action}"


def test_deliveries_are_listed_newest_first_with_paging(owner, endpoint: CallNotify, django_assert_max_num_queries) -> None:
    for n in range(5):
        post_event(endpoint.customer, call_id=f"call-{n}")
    Delivery.objects.filter(call_id="call-0").update(state="FAILED", attempts=1, last_status=404, last_error="HTTP 404",
                                                    finished_at=timezone.now(), next_attempt_at=None)
    with django_assert_max_num_queries(6):
        body = owner.get(url(endpoint) + "?offset=1&limit=2").json()
    assert (body["offset"], body["limit"], body["total"]) == (1, 2, 5)
    assert [d["callId"] for d in body["deliveries"]] == ["call-3", "call-2"]
    first = body["deliveries"][0]
    stored = Delivery.objects.get(call_id="call-3")
    assert set(first) == {"_id", "event", "callId", "eventState", "sequence", "state", "attempts", "createdAt", "nextAttemptAt"}
    assert (first["_id"], first["event"], first["eventState"], first["sequence"], first["state"], first["attempts"]) == (
        stored.id, stored.event_id, "RINGING", 1, "PENDING", 0)


def test_the_next_link_walks_the_whole_log_by_cursor_each_delivery_once(owner, endpoint: CallNotify,
                                                                          django_assert_max_num_queries) -> None:
    for n in range(7):
        post_event(endpoint.customer, call_id=f"call-{n}")
    Delivery.objects.update(created_at=timezone.now())  # equal times: the id breaks the tie
    newest_first = list(Delivery.objects.order_by("-created_at", "-id").values_list("id", flat=True))
    seen, link = [], url(endpoint) + "?limit=3&state=PENDING"
    while link:
        with django_assert_max_num_queries(6):  # a deep page costs what the first one does
            response = owner.get(link)
        assert response.status_code == 200 and response.json()["total"] == 7
        seen += [d["_id"] for d in response.json()["deliveries"]]
        header = response.get("Link", "")
        assert header == "" or (header.endswith('>; rel="next"') and "state=PENDING" in header and "limit=3" in header)
        link = header[header.index("/api/"):header.index(">")] if header else ""
    assert seen == newest_first


def test_the_call_event_list_walks_by_cursor_too(owner, endpoint: CallNotify) -> None:
    for n in range(5):
        post_event(endpoint.customer, call_id=f"call-{n}", timestamp=T0 + timedelta(seconds=n % 2))
    newest_first = list(CallEvent.objects.order_by("-timestamp", "-id").values_list("id", flat=True))
    seen, link = [], f"/api/customer/{endpoint.customer_id}/callevent?limit=2"
    while link:
        response = owner.get(link)
        seen += [e["_id"] for e in response.json()["callEvents"]]
        header = response.get("Link", "")
        link = header[header.index("/api/"):header.index(">")] if header else ""
    assert seen == newest_first


@pytest.mark.parametrize("cursor", ["x", "bm90IGEgY3Vyc29y", "MjAyNi0xMS0yMlQxMDoxNTowMHw", "A" * 300,
                                    "MjAyNi0xMS0yMlQxMDoxNTowMCswMDowMHxhL2I"])  # no time, no id, no zone, a bad id
def test_a_cursor_that_is_not_one_is_refused(owner, endpoint: CallNotify, cursor: str) -> None:
    response = owner.get(url(endpoint) + f"?cursor={cursor}")
    assert (response.status_code, response.json()) == (
        400, {"error": {"code": "bad_request", "status": 400, "message": "Invalid cursor", "path": "cursor"}})
    events = owner.get(f"/api/customer/{endpoint.customer_id}/callevent?cursor={cursor}")
    assert events.status_code == 400 and events.json()["error"]["path"] == "cursor"


def test_deliveries_filter_by_state_and_show_the_last_outcome(owner, endpoint: CallNotify) -> None:
    post_event(endpoint.customer, call_id="ok")
    post_event(endpoint.customer, call_id="bad")
    Delivery.objects.filter(call_id="bad").update(state="FAILED", attempts=1, last_status=404, last_error="HTTP 404",
                                                 finished_at=timezone.now(), next_attempt_at=None)
    body = owner.get(url(endpoint) + "?state=FAILED").json()
    assert body["total"] == 1
    [failed] = body["deliveries"]
    assert (failed["callId"], failed["lastStatus"], failed["lastError"], failed["attempts"]) == ("bad", 404, "HTTP 404", 1)
    assert "finishedAt" in failed and "nextAttemptAt" not in failed


def test_deliveries_of_another_endpoint_are_not_listed(owner, endpoint: CallNotify) -> None:
    CallNotifyFactory(customer=endpoint.customer)
    post_event(endpoint.customer)
    assert owner.get(url(endpoint)).json()["total"] == 1


@pytest.mark.parametrize(("query", "path"), [("?limit=0", "limit"), ("?limit=501", "limit"), ("?offset=-1", "offset"),
                                             ("?limit=x", "limit"), ("?state=DONE", "state")])
def test_bad_list_parameters_are_a_bad_request(owner, endpoint: CallNotify, query: str, path: str) -> None:
    response = owner.get(url(endpoint) + query)
    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["path"]) == ("bad_request", path)


def test_unknown_endpoint_is_not_found(owner, endpoint: CallNotify) -> None:
    other = CallNotifyFactory()  # another customer's
    for bad in (f"/api/customer/{endpoint.customer_id}/callnotify/{other.id}/deliveries",
                f"/api/customer/{endpoint.customer_id}/callnotify/nonsense/test"):
        response = owner.get(bad) if bad.endswith("deliveries") else owner.post(bad)
        assert response.status_code == 404
        assert response.json() == {"error": {"code": "not_found", "status": 404, "message": "Call notify not found"}}


@pytest.mark.parametrize(("level", "status"), [(AccessLevel.PERSONAL, 403), (AccessLevel.VIEWER, 200), (AccessLevel.ADMIN, 200)])
def test_who_may_read_the_log(client_for, endpoint: CallNotify, level: str, status: int) -> None:
    customer = endpoint.customer if level != AccessLevel.ADMIN else CustomerFactory()
    assert client_for(EmployeeFactory(customer=customer, access_level=level)).get(url(endpoint)).status_code == status


def test_other_customers_endpoints_are_a_customer_not_found(client_for, endpoint: CallNotify) -> None:
    stranger = client_for(EmployeeFactory(access_level=AccessLevel.OWNER))
    response = stranger.get(url(endpoint))
    assert response.json() == {"error": {"code": "customer", "status": 404, "message": "Customer not found"}}


def manager_of(client_for, endpoint: CallNotify):
    return client_for(EmployeeFactory(customer=endpoint.customer, access_level=AccessLevel.MANAGER))


@pytest.mark.usefixtures("loopback")
def test_test_event_is_sent_now_and_reports_the_outcome(client_for, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok", status=204)
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook", selection="MVNO")
    body = manager_of(client_for, endpoint).post(url(endpoint, "test")).json()
    assert body["delivered"] is True and body["status"] == 204 and body["error"] is None
    assert isinstance(body["durationMs"], int)
    [(request, _)] = httpserver.log
    sent = json.loads(request.get_data())
    assert sent["state"] == "RINGING" and sent["callId"].startswith("test-") and sent["type"] == "MVNO"
    assert Delivery.objects.count() == 0  # outside the queue


@pytest.mark.usefixtures("loopback")
def test_test_event_reports_a_failure(client_for, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("no", status=500)
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook")
    body = manager_of(client_for, endpoint).post(url(endpoint, "test")).json()
    assert (body["delivered"], body["status"], body["error"]) == (False, 500, "HTTP 500")
    assert CallNotify.objects.get(pk=endpoint.pk).state == "ACTIVE"


def test_test_event_to_a_refused_address_never_connects(owner, endpoint: CallNotify, dns) -> None:
    endpoint.url = "http://metadata.example.com/latest"
    endpoint.save()
    body = owner.post(url(endpoint, "test")).json()
    assert body == {"delivered": False, "status": None, "error": "refused: URL points to an invalid hostname",
                    "durationMs": body["durationMs"]}


def test_attempts_show_up_in_the_log(owner, endpoint: CallNotify) -> None:
    CallNotify.objects.filter(pk=endpoint.pk).update(url="http://169.254.169.254/latest")
    post_event(endpoint.customer)
    attempt_delivery(Delivery.objects.get().id)
    [entry] = owner.get(url(endpoint)).json()["deliveries"]
    assert (entry["state"], entry["attempts"], entry["lastError"]) == ("FAILED", 1, "refused: URL points to an invalid IP address")
