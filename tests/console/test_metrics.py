"""GET /api/metrics: delivery counters from the database, routing counters of this process."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AccessLevel
from callnotify.models import Delivery
from tests.accounts.factories import EmployeeFactory
from tests.callnotify.factories import CallNotifyFactory, post_event
from tests.sbcrules.factories import PeerFactory, RuleFactory

pytestmark = pytest.mark.django_db


def test_metrics_count_deliveries_and_routing(client_for, settings):
    settings.CELERY_BROKER_URL = ""
    endpoint = CallNotifyFactory()
    for n in range(3):
        post_event(endpoint.customer, call_id=f"m-{n}")
    now = timezone.now()
    Delivery.objects.filter(event__call_id="m-0").update(state="DELIVERED", finished_at=now)
    Delivery.objects.filter(event__call_id="m-1").update(next_attempt_at=now - timedelta(minutes=5))
    tdc = PeerFactory(id="TDC", is_default=True)
    PeerFactory(id="DOWN", down=True)
    RuleFactory(condition="+4570", peer=tdc)
    RuleFactory(type="ANUMBER", condition="+4512345678", peer=tdc)
    client = client_for(EmployeeFactory(access_level=AccessLevel.ADMIN))
    assert client.get("/api/sbc/route", {"bnumber": "+4570305050"}).json()["reason"] == "prefix"
    client.get("/api/sbc/route", {"bnumber": "+4412345678"})

    body = client.get("/api/metrics").json()

    assert body["deliveries"] == {
        "byState": {"PENDING": 2, "DELIVERED": 1, "FAILED": 0},
        "finishedLastHour": {"DELIVERED": 1, "FAILED": 0},
        "overduePending": 1,
        "heldPending": 0,
    }
    routing = body["routing"]
    assert routing["rules"] == 2 and routing["rulesByType"] == {"ANUMBER": 1, "CUSTOMER": 0, "DKCPS": 0, "PREFIX": 1}
    assert (routing["peers"], routing["unusablePeers"], routing["defaultPeer"]) == (2, ["DOWN"], "TDC")
    assert routing["decisions"] == {"anumber": 0, "customer": 0, "dkcps": 0, "prefix": 1, "default": 1, "no_route": 0,
                                    "no_usable_peer": 0, "unknown_source": 0}  # each test starts a fresh count (conftest)
    assert routing["indexRebuilds"] == 1 and routing["indexAgeSeconds"] >= 0


def test_metrics_are_for_admins_only(client_for):
    response = client_for(EmployeeFactory(access_level=AccessLevel.RESELLER_ADMIN)).get("/api/metrics")
    assert response.status_code == 403
