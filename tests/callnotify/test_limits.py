"""A customer's call notify items are bounded (docs/api.md §5): refused beyond the limit in the API
and the admin, one customer's limit raised by the operator, and concurrent creates counted exactly."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction
from django.urls import reverse

from accounts.models import AccessLevel
from callnotify.models import CallNotify, add_within_limit
from tests.accounts.factories import CustomerFactory, EmployeeFactory
from tests.callnotify.factories import CallNotifyFactory

TOO_MANY = {"error": {"code": "limit", "status": 422, "message": "Too many call notify items"}}
BODY = {"url": "http://100.64.123.100:4000/call", "method": "POSTJSON", "selection": "ALL"}
FIELDS = {**BODY, "url": "http://127.0.0.1:9/call"}


@pytest.mark.django_db
def test_the_item_beyond_the_limit_is_refused_and_nothing_is_stored(client_for, settings) -> None:
    settings.CALLNOTIFY_MAX_ENDPOINTS_PER_CUSTOMER = 3
    owner = EmployeeFactory(access_level=AccessLevel.OWNER)
    client = client_for(owner)
    base = f"/api/customer/{owner.customer_id}/callnotify"
    assert [client.post(base, BODY, format="json").status_code for _ in range(3)] == [201, 201, 201]
    response = client.post(base, BODY, format="json")
    assert (response.status_code, response.json()) == (422, TOO_MANY)
    assert CallNotify.objects.filter(customer=owner.customer).count() == 3
    # A bad item is told what is wrong with it first.
    response = client.post(base, {**BODY, "url": "ftp://x"}, format="json")
    assert response.json()["error"]["code"] == "url"
    # Another customer has its own count; deleting one makes room again.
    other = EmployeeFactory(access_level=AccessLevel.OWNER)
    assert client_for(other).post(f"/api/customer/{other.customer_id}/callnotify", BODY, format="json").status_code == 201
    client.delete(f"{base}/{CallNotify.objects.filter(customer=owner.customer).first().pk}")
    assert client.post(base, BODY, format="json").status_code == 201


@pytest.mark.django_db
def test_the_operator_raises_one_customers_limit(client_for, settings) -> None:
    settings.CALLNOTIFY_MAX_ENDPOINTS_PER_CUSTOMER = 1
    owner = EmployeeFactory(access_level=AccessLevel.OWNER)
    CallNotifyFactory(customer=owner.customer)
    base = f"/api/customer/{owner.customer_id}/callnotify"
    assert client_for(owner).post(base, BODY, format="json").json() == TOO_MANY
    owner.customer.callnotify_limit = 2
    owner.customer.save()
    assert client_for(owner).post(base, BODY, format="json").status_code == 201
    assert client_for(owner).post(base, BODY, format="json").json() == TOO_MANY


@pytest.mark.django_db
def test_the_admin_refuses_the_item_beyond_the_limit_too(admin_client, settings) -> None:
    settings.CALLNOTIFY_MAX_ENDPOINTS_PER_CUSTOMER = 1
    customer = CustomerFactory()
    CallNotifyFactory(customer=customer)
    response = admin_client.post(reverse("admin:callnotify_callnotify_add"), {
        "customer": customer.pk, "url": BODY["url"], "method": "POSTJSON", "selection": "ALL", "state": "ACTIVE"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["customer"] == [
        "Too many call notify items (this customer's limit is set on its page)"]
    assert CallNotify.objects.filter(customer=customer).count() == 1
    # The customer's page raises it.
    page = admin_client.get(reverse("admin:accounts_customer_change", args=[customer.pk]))
    assert b'name="callnotify_limit"' in page.content


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent transactions")
@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_never_pass_the_limit(client_for, settings) -> None:
    settings.CALLNOTIFY_MAX_ENDPOINTS_PER_CUSTOMER = 5
    owner = EmployeeFactory(access_level=AccessLevel.OWNER)
    base = f"/api/customer/{owner.customer_id}/callnotify"
    start = threading.Barrier(8)
    statuses: list[int] = []

    def create() -> None:
        try:
            client = client_for(owner)
            start.wait(30)
            statuses.append(client.post(base, BODY, format="json").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [201] * 5 + [422] * 3
    assert CallNotify.objects.filter(customer=owner.customer).count() == 5


def items_counted() -> dict[str, tuple[int, int]]:
    """Per customer: the count its row keeps, and the items it has."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.id, c.callnotify_items, (SELECT COUNT(*) FROM callnotify_callnotify i WHERE i.customer_id = c.id)"
                       " FROM accounts_customer c")
        return {pk: (kept, real) for pk, kept, real in cursor.fetchall()}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite counts the items in the create's statement")
@pytest.mark.django_db
def test_the_count_follows_every_way_an_item_is_added_moved_or_removed() -> None:
    """PostgreSQL keeps each customer's count (migration 0014), so the limit holds for items the
    admin, a script or raw SQL made too."""
    one, two = CustomerFactory(), CustomerFactory()
    items = CallNotifyFactory.create_batch(3, customer=one)
    assert items_counted()[one.pk] == (3, 3)
    items[0].delete()
    CallNotify.objects.filter(pk=items[1].pk).update(customer=two)
    assert (items_counted()[one.pk], items_counted()[two.pk]) == ((1, 1), (1, 1))
    CallNotify.objects.filter(pk=items[1].pk).update(url="http://127.0.0.1:9/")  # not moved: counted once
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM callnotify_callnotify WHERE customer_id = %s", [two.pk])
    assert items_counted()[two.pk] == (0, 0)
    one.name = "renamed"
    one.save()  # the model knows nothing of the count, so saving the customer cannot write an old one back
    assert items_counted()[one.pk] == (1, 1)
    one.delete()
    assert one.pk not in items_counted()
    assert all(kept == real for kept, real in items_counted().values())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a create waiting for another's lock")
@pytest.mark.django_db(transaction=True)
def test_a_create_waiting_for_a_concurrent_one_counts_what_it_added(settings) -> None:
    """The create's one statement holds the customer's row: one that waited for a concurrent create
    to commit checks the limit against the count that create left, not the count it saw first."""
    settings.CALLNOTIFY_MAX_ENDPOINTS_PER_CUSTOMER = 1
    customer = CustomerFactory()
    holding, release, outcome = threading.Event(), threading.Event(), []

    def first() -> None:
        try:
            with transaction.atomic():
                outcome.append(("first", add_within_limit(CallNotify(customer=customer, **FIELDS))))
                holding.set()
                release.wait(30)
        finally:
            connections.close_all()

    def second() -> None:
        try:
            outcome.append(("second", add_within_limit(CallNotify(customer=customer, **FIELDS))))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert holding.wait(30)
    threads[1].start()
    waiting = 0
    for _ in range(300):  # until the second create waits for the row lock (or, unguarded, has finished)
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")
            waiting = cursor.fetchone()[0]
        if waiting or len(outcome) == 2:
            break
        threading.Event().wait(0.02)
    release.set()
    for thread in threads:
        thread.join(30)
    assert (waiting, outcome) == (1, [("first", True), ("second", False)])
    assert items_counted()[customer.pk] == (1, 1)
