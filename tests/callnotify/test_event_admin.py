"""The operator admin for events and deliveries: read-only lists with filters, retry and test actions."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone
from pytest_httpserver import HTTPServer

from callnotify.models import Delivery
from tests.callnotify.factories import CallNotifyFactory, post_event

pytestmark = pytest.mark.django_db


def test_events_and_deliveries_are_listed_and_filtered(admin_client: Client, django_assert_max_num_queries) -> None:
    endpoint = CallNotifyFactory()
    other = CallNotifyFactory()
    for n in range(3):
        post_event(endpoint.customer, call_id=f"listed-{n}")
    post_event(other.customer, call_id="someone-else")
    for url in ("/admin/callnotify/callevent/", "/admin/callnotify/delivery/", "/admin/callnotify/delivery/?state__exact=PENDING"):
        with django_assert_max_num_queries(20):
            response = admin_client.get(url)
        assert response.status_code == 200 and b"listed-2" in response.content
    for url in (f"/admin/callnotify/delivery/?endpoint__id={endpoint.id}",
                f"/admin/callnotify/delivery/?endpoint__customer__id={endpoint.customer_id}",
                f"/admin/callnotify/delivery/?q={endpoint.customer_id}", "/admin/callnotify/delivery/?q=listed-2",
                f"/admin/callnotify/delivery/?q={endpoint.id}"):
        with django_assert_max_num_queries(20):
            response = admin_client.get(url)
        assert response.status_code == 200 and b"listed-2" in response.content and b"someone-else" not in response.content, url
    assert b"listed-1" not in admin_client.get("/admin/callnotify/delivery/?q=listed-2").content
    assert admin_client.get("/admin/callnotify/delivery/?q=%00").status_code == 200  # the admin's search form drops it
    for url in (f"/admin/callnotify/callevent/?customer__id={endpoint.customer_id}", "/admin/callnotify/callevent/?q=listed-2",
                f"/admin/callnotify/callevent/?q={endpoint.customer_id}"):
        with django_assert_max_num_queries(20):
            response = admin_client.get(url)
        assert b"listed-2" in response.content and b"someone-else" not in response.content, url
    for odd in ("?q=" + "x" * 300, "?endpoint__customer__id=nonsense", "?endpoint__id=%00"):
        response = admin_client.get("/admin/callnotify/delivery/" + odd)
        assert response.status_code == 200 and b"listed-" not in response.content, odd
    page = admin_client.get(f"/admin/callnotify/delivery/?endpoint__customer__id={endpoint.customer_id}").content.decode()
    assert 'class="admin-autocomplete console-autocomplete-filter"' in page and f'selected>{endpoint.customer}<' in page, page[page.find('<select'):][:1500]
    delivery = Delivery.objects.first()
    page = admin_client.get(f"/admin/callnotify/delivery/{delivery.id}/change/")
    assert page.status_code == 200 and b"Save" not in page.content  # read-only
    assert admin_client.get("/admin/callnotify/delivery/add/").status_code == 403
    found = admin_client.get("/admin/autocomplete/", {"app_label": "callnotify", "model_name": "delivery", "field_name": "endpoint",
                                                   "term": endpoint.url[7:20]}).json()
    assert [r["id"] for r in found["results"]] == [endpoint.id]


def test_retry_action_requeues_only_failed_deliveries(admin_client: Client) -> None:
    endpoint = CallNotifyFactory()
    post_event(endpoint.customer, call_id="failed")
    post_event(endpoint.customer, call_id="delivered")
    Delivery.objects.filter(call_id="failed").update(state="FAILED", attempts=7, finished_at=timezone.now(), next_attempt_at=None)
    Delivery.objects.filter(call_id="delivered").update(state="DELIVERED", attempts=1, finished_at=timezone.now())
    response = admin_client.post("/admin/callnotify/delivery/", {"action": "retry_failed",
                                                             "_selected_action": list(Delivery.objects.values_list("id", flat=True))}, follow=True)
    assert b"1 deliveries queued again; 1 not FAILED, left alone" in response.content
    retried = Delivery.objects.get(call_id="failed")
    assert (retried.state, retried.attempts, retried.finished_at) == ("PENDING", 0, None)
    assert retried.next_attempt_at is not None
    assert Delivery.objects.get(call_id="delivered").state == "DELIVERED"


@pytest.mark.usefixtures("loopback")
def test_send_test_event_action(admin_client: Client, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    endpoint = CallNotifyFactory(url=f"http://sink.example.com:{httpserver.port}/hook")
    post_event(endpoint.customer)
    response = admin_client.post("/admin/callnotify/delivery/", {"action": "send_test_events_to_endpoints",
                                                             "_selected_action": [Delivery.objects.get().id]}, follow=True)
    assert b"delivered (status 200" in response.content
    assert len(httpserver.log) == 1
