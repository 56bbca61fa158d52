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
