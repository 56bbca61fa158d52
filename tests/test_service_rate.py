"""Service accounts are not throttled like people (docs/settings.md API_RATE_SERVICE)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from accounts.models import AccessLevel
from tests.accounts.factories import CustomerFactory, EmployeeFactory

pytestmark = pytest.mark.django_db


def event(customer_id: str, n: int) -> dict:
    return {"callId": f"call-{n}", "customer": customer_id, "type": "SIP", "direction": "INBOUND", "state": "RINGING",
            "aNumber": "+4512345678", "bNumber": "+4570305050", "timestamp": "2026-11-22T10:15:00Z"}


def test_a_switch_posting_events_gets_the_service_rate_and_elsewhere_the_people_rate(client_for, settings) -> None:
    settings.API_RATE_USER = "3/min"
    settings.API_RATE_SERVICE = "5/min"
    switch = EmployeeFactory(access_level=AccessLevel.OWNER, customer=CustomerFactory(is_reseller=True))
    switch.user_permissions.add(Permission.objects.get(codename="add_callevent", content_type__app_label="callnotify"))
    client = client_for(switch)
    statuses = [client.post("/api/callevent", event(switch.customer_id, n), format="json").status_code for n in range(6)]
    assert statuses == [202] * 5 + [429]


def test_a_person_posting_events_gets_the_people_rate(client_for, settings) -> None:
    settings.API_RATE_USER = "3/min"
    settings.API_RATE_SERVICE = "100/min"
    person = EmployeeFactory(access_level=AccessLevel.OWNER)
    client = client_for(person)
    statuses = [client.get(f"/api/customer/{person.customer_id}/callnotify").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_a_switch_looking_up_routes_gets_the_service_rate(client_for, settings) -> None:
    settings.API_RATE_USER = "2/min"
    settings.API_RATE_SERVICE = "4/min"
    switch = EmployeeFactory(access_level=AccessLevel.VIEWER)
    switch.user_permissions.add(Permission.objects.get(codename="lookup_route", content_type__app_label="sbcrules"))
    client = client_for(switch)
    statuses = [client.get("/api/sbc/route", {"bnumber": "+4570305050"}).status_code for _ in range(5)]
    assert statuses[:4] != [429] * 4 and 429 not in statuses[:4] and statuses[4] == 429
