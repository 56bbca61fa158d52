"""The operators' admin: pages work, and it refuses what the API refuses, with the same message."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AccessLevel, Customer
from callnotify.models import CallNotify
from tests.accounts.factories import CustomerFactory, EmployeeFactory
from tests.callnotify.factories import CallNotifyFactory
from tests.callnotify.test_urls import ACCEPTED, REJECTED

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(EmployeeFactory(access_level=AccessLevel.ADMIN))
    return client


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


@pytest.mark.parametrize(
    "name",
    [
        "accounts_customer_changelist",
        "accounts_employee_changelist",
        "accounts_token_changelist",
        "callnotify_callnotify_changelist",
        "accounts_customer_add",
        "accounts_employee_add",
        "callnotify_callnotify_add",
    ],
)
def test_admin_pages_render(admin_client, name):
    reseller = CustomerFactory(reseller=True)
    CallNotifyFactory.create_batch(3, customer=CustomerFactory(parent_reseller=reseller))
    assert admin_client.get(reverse(f"admin:{name}")).status_code == 200


def test_customer_page_shows_the_reseller_tree(admin_client):
    top = CustomerFactory(reseller=True, name="Top Reseller")
    middle = CustomerFactory(reseller=True, parent_reseller=top, name="Middle Reseller")
    CustomerFactory(parent_reseller=middle, name="Leaf Customer")
    changelist = admin_client.get(reverse("admin:accounts_customer_changelist")).content.decode()
    assert "Top Reseller › Middle Reseller" in changelist
    change = admin_client.get(reverse("admin:accounts_customer_change", args=[middle.pk])).content.decode()
    assert "Leaf Customer" in change


def test_customer_features_are_typed_comma_separated_and_validated(admin_client):
    response = admin_client.post(
        reverse("admin:accounts_customer_add"), {"name": "X", "state": "ACTIVE", "features": "finance", "children-TOTAL_FORMS": 0, "children-INITIAL_FORMS": 0}
    )
    assert response.status_code == 200
    assert not Customer.objects.filter(name="X").exists()
    response = admin_client.post(
        reverse("admin:accounts_customer_add"), {"name": "X", "state": "ACTIVE", "features": "FINANCE, TELE", "children-TOTAL_FORMS": 0, "children-INITIAL_FORMS": 0}
    )
    assert response.status_code == 302
    assert Customer.objects.get(name="X").features == ["FINANCE", "TELE"]


@pytest.mark.parametrize("level", [AccessLevel.RESELLER_ADMIN, AccessLevel.OWNER])
def test_only_admin_level_reaches_the_admin(client, level):
    client.force_login(EmployeeFactory(access_level=level))
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and "/login/" in response["Location"]


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
