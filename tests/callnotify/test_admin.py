"""The call notify admin: pages work, and it refuses what the API refuses, with the same message."""

from __future__ import annotations

import pytest
from django.urls import reverse

from callnotify.models import CallNotify
from tests.accounts.factories import CustomerFactory
from tests.callnotify.factories import ACCEPTED, REJECTED, CallNotifyFactory

pytestmark = pytest.mark.django_db


def add_item(admin_client, customer, url):
    return admin_client.post(
        reverse("admin:callnotify_callnotify_add"),
        {"customer": customer.pk, "url": url, "method": "POSTJSON", "selection": "ALL", "state": "ACTIVE"},
    )


@pytest.mark.parametrize(("url", "message"), [row for row in REJECTED if isinstance(row[0], str) and row[0]])
def test_admin_refuses_the_urls_the_api_refuses(admin_client, url, message):
    response = add_item(admin_client, CustomerFactory(), url)
    assert response.status_code == 200  # the form again, with the error
    assert response.context["adminform"].form.errors["url"] == [message]
    assert not CallNotify.objects.exists()


@pytest.mark.parametrize("url", ACCEPTED[:4])
def test_admin_accepts_the_urls_the_api_accepts(admin_client, url):
    response = add_item(admin_client, CustomerFactory(), url)
    assert response.status_code == 302
    assert CallNotify.objects.get().url == url


@pytest.mark.parametrize("name", ["callnotify_callnotify_changelist", "callnotify_callnotify_add"])
def test_admin_pages_render(admin_client, name):
    reseller = CustomerFactory(reseller=True)
    CallNotifyFactory.create_batch(3, customer=CustomerFactory(parent_reseller=reseller))
    assert admin_client.get(reverse(f"admin:{name}")).status_code == 200


def test_item_page_shows_secret_status_health_and_deliveries_and_rotates_the_secret_once() -> None:
    from django.test import Client
    from django.utils import timezone

    from callnotify import endpoint_health as health
    from callnotify.signing import secret_key
    from tests.accounts.factories import EmployeeFactory

    item = CallNotifyFactory()
    health.record([health.Outcome(item.pk, None, "RETRY", 30, timezone.now())])
    client = Client()
    client.force_login(EmployeeFactory(admin=True))
    page = client.get(f"/admin/callnotify/callnotify/{item.pk}/change/").content.decode()
    assert "not set (deliveries are not signed)" in page and "Generate secret" in page
    assert f'href="/admin/callnotify/delivery/?endpoint__id={item.pk}"' in page
    assert "0 delivered, 1 failed" in page and "consecutive failures" in page

    confirm = client.get(f"/admin/callnotify/callnotify/{item.pk}/secret/").content.decode()
    assert "whsec_" not in confirm  # a GET changes nothing
    shown = client.post(f"/admin/callnotify/callnotify/{item.pk}/secret/").content.decode()
    item.refresh_from_db()
    assert item.secret.startswith("whsec_") and secret_key(item.secret) and shown.count(item.secret) == 1
    page = client.get(f"/admin/callnotify/callnotify/{item.pk}/change/").content.decode()
    assert item.secret not in page and "set (deliveries are signed)" in page and "Rotate secret" in page
    before = item.secret
    client.post(f"/admin/callnotify/callnotify/{item.pk}/secret/")
    item.refresh_from_db()
    assert item.secret != before
    assert b">POSTJSON<" in client.get("/admin/callnotify/callnotify/").content  # the API's spelling, not "Postjson"


@pytest.mark.parametrize("url", ["tcp://127.0.0.1:5000", "udp://127.0.0.1:5000"])
def test_generate_secret_on_a_tcp_or_udp_item_is_refused_as_the_api_refuses_it(admin_client, url):
    """It stored a secret, and every API update of the item then failed with 422 `secret`."""
    item = CallNotifyFactory(url=url)
    page = admin_client.get(f"/admin/callnotify/callnotify/{item.pk}/change/").content.decode()
    assert "Generate secret" not in page and "not used: tcp and udp deliveries carry no signature" in page
    response = admin_client.post(f"/admin/callnotify/callnotify/{item.pk}/secret/", follow=True)
    assert "Only http and https endpoints can be signed" in response.content.decode()
    item.refresh_from_db()
    assert item.secret == ""


def test_moving_a_signed_endpoint_to_tcp_in_the_admin_is_refused_on_the_url(admin_client):
    item = CallNotifyFactory(url="https://hooks.example.com/x", secret="whsec_" + "A" * 32)
    response = admin_client.post(
        reverse("admin:callnotify_callnotify_change", args=[item.pk]),
        {"customer": item.customer_id, "url": "tcp://hooks.example.com:5000", "method": "POSTJSON", "selection": "ALL",
         "state": "ACTIVE"},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["url"] == ["Only http and https endpoints can be signed"]
    assert CallNotify.objects.get().url == "https://hooks.example.com/x"


def test_admin_times_show_seconds_and_the_time_zone(admin_client):
    from datetime import datetime, timezone

    item = CallNotifyFactory()
    CallNotify.objects.filter(pk=item.pk).update(created_at=datetime(2026, 12, 3, 10, 15, 42, tzinfo=timezone.utc))
    page = admin_client.get(f"/admin/callnotify/callnotify/{item.pk}/change/").content.decode()
    assert "2026-12-03 10:15:42 UTC" in page

