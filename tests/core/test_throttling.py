"""The per-employee rate limit's window, kept per process (core/throttling.py): same rule as DRF's."""

from __future__ import annotations

import pytest

from accounts.models import AccessLevel
from core.throttling import EmployeeRateThrottle
from tests.accounts.factories import EmployeeFactory

pytestmark = pytest.mark.django_db


def test_the_window_slides_and_retry_after_says_when(client_for, settings, monkeypatch):
    settings.API_RATE_USER = "2/min"
    now = [1000.0]
    monkeypatch.setattr(EmployeeRateThrottle, "timer", lambda self: now[0])
    employee = EmployeeFactory(access_level=AccessLevel.OWNER)
    client = client_for(employee)
    url = f"/api/customer/{employee.customer_id}/callnotify"
    assert client.get(url).status_code == 200
    now[0] += 30
    assert client.get(url).status_code == 200
    now[0] += 10
    refused = client.get(url)
    assert (refused.status_code, refused["Retry-After"]) == (429, "20")  # the first request leaves the window in 20 s
    now[0] += 20
    assert client.get(url).status_code == 200  # one slot free again
    assert client.get(url).status_code == 429


def test_clients_whose_window_is_empty_are_forgotten(client_for, settings, monkeypatch):
    from core import throttling

    settings.API_RATE_USER = "5/min"
    monkeypatch.setattr(throttling, "MAX_CLIENTS", 1)
    now = [1000.0]
    monkeypatch.setattr(EmployeeRateThrottle, "timer", lambda self: now[0])
    first, second = EmployeeFactory(access_level=AccessLevel.OWNER), EmployeeFactory(access_level=AccessLevel.OWNER)
    assert client_for(first).get(f"/api/customer/{first.customer_id}/callnotify").status_code == 200
    now[0] += 61
    assert client_for(second).get(f"/api/customer/{second.customer_id}/callnotify").status_code == 200
    assert list(throttling._histories) == [f"throttle_user_{second.pk}"]
