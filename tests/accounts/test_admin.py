"""The accounts admin: pages work (with call notify items about), the reseller tree, features, and
that only ADMIN reaches the admin."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AccessLevel, Customer
from tests.accounts.factories import CustomerFactory, EmployeeFactory
from tests.callnotify.factories import CallNotifyFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "name",
    [
        "accounts_customer_changelist",
        "accounts_employee_changelist",
        "accounts_token_changelist",
        "accounts_customer_add",
        "accounts_employee_add",
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
