"""core/representation.py: a list answered from rows is, item for item, what DRF's own path answers.

Each list built that way is compared with its serializer run the ordinary way on the same rows
(model instances through every field), on rows that exercise each field: text with odd
characters, empty and long notes, ids in odd case, health with and without attempts.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.utils import timezone as dj_timezone

from accounts.models import AccessLevel
from callnotify.endpoint_health import Outcome, record
from callnotify.models import CallNotify
from callnotify.serializers import CallNotifySerializer
from sbcrules.models import Rule
from sbcrules.serializers import RuleSerializer
from tests.accounts.factories import CustomerFactory, EmployeeFactory
from tests.callnotify.factories import CallNotifyFactory
from tests.sbcrules.factories import PeerFactory, RuleFactory

pytestmark = pytest.mark.django_db


def test_the_rule_list_answers_what_the_serializer_answers(client_for) -> None:
    peer, other = PeerFactory(id="tdc"), PeerFactory(id="Telenor_2")
    RuleFactory(condition="+4570", peer=peer, note="")
    RuleFactory(condition="+45", peer=other, note="=HYPERLINK(\"x\") æøå \u2028 \"quoted\"")
    RuleFactory(type="ANUMBER", condition="+4512345678", peer=other, note="n" * 1000)
    RuleFactory(type="CUSTOMER", condition=CustomerFactory().pk, peer=peer)
    admin = EmployeeFactory(access_level=AccessLevel.ADMIN)

    answered = client_for(admin).get("/api/sbc/rule")

    assert answered.status_code == 200
    assert answered.json() == RuleSerializer(Rule.objects.order_by("id"), many=True).data
    paged = client_for(admin).get("/api/sbc/rule?offset=1&limit=2")
    assert paged.json() == RuleSerializer(Rule.objects.order_by("id")[1:3], many=True).data


def test_the_call_notify_list_answers_what_the_serializer_answers(client_for) -> None:
    owner = EmployeeFactory(access_level=AccessLevel.OWNER)
    customer = owner.customer
    quiet = CallNotifyFactory(customer=customer, url="http://127.0.0.1:9/a?x=%C3%A6")
    busy = CallNotifyFactory(customer=customer, url="udp://127.0.0.1:9", method="GET2", selection="SIP", state="DISABLED")
    now = dj_timezone.now()
    record([Outcome(busy.pk, customer.pk, "DELIVERED", 40, now - timedelta(minutes=90)),
            Outcome(busy.pk, customer.pk, "RETRY", 900, now - timedelta(minutes=5)),
            Outcome(busy.pk, customer.pk, "DELIVERED", 30, now - timedelta(minutes=3, microseconds=1234)),
            Outcome(busy.pk, customer.pk, "FAILED", 5000, now - timedelta(minutes=1))])

    answered = client_for(owner).get(f"/api/customer/{customer.pk}/callnotify")

    assert answered.status_code == 200
    expected = CallNotifySerializer(CallNotify.objects.filter(customer=customer).order_by("id"), many=True).data
    assert answered.json() == expected
    by_id = {item["_id"]: item for item in answered.json()}
    assert by_id[quiet.pk]["health"]["lastHour"] == {"delivered": 0, "failed": 0, "p50DurationMs": None, "p95DurationMs": None}
    health = by_id[busy.pk]["health"]
    assert health["lastHour"] == {"delivered": 1, "failed": 2, "p50DurationMs": 1000, "p95DurationMs": 5000}
    assert health["lastDay"] == {"delivered": 2, "failed": 2, "p50DurationMs": 50, "p95DurationMs": 5000}
    assert (health["consecutiveFailures"], health["lastFailureAt"][-1], health["disabledReason"]) == (1, "Z", None)
    assert "secret" not in by_id[busy.pk]


def test_a_field_that_is_not_a_column_must_be_named() -> None:
    class Careless(CallNotifySerializer):
        values_skip = ("secret",)

    with pytest.raises(TypeError, match="health: not a column"):
        Careless().plan()


def test_a_whole_rule_list_is_streamed_in_chunks_with_the_same_bytes(client_for, monkeypatch) -> None:
    from core import representation
    from core.renderers import FastJSONRenderer

    monkeypatch.setattr(representation, "STREAM_CHUNK", 2)  # 5 rules: chunks of 2, 2 and 1
    peer = PeerFactory(id="TDC")
    for n in range(5):
        RuleFactory(condition=f"+45{n}", peer=peer, note="\u2028" if n == 3 else "")
    admin = EmployeeFactory(access_level=AccessLevel.ADMIN)

    answered = client_for(admin).get("/api/sbc/rule")

    assert answered.status_code == 200 and answered.streamed
    assert answered["Content-Type"] == "application/json" and answered["ETag"]
    assert answered.content == FastJSONRenderer().render(RuleSerializer(Rule.objects.order_by("id"), many=True).data)
    paged = client_for(admin).get("/api/sbc/rule?limit=500")
    assert not getattr(paged, "streamed", False) and paged.json() == answered.json()
    empty = client_for(admin).get("/api/sbc/rule?type=DKCPS")
    assert empty.streamed and empty.content == b"[]"


def test_a_whole_rule_list_asked_indented_is_indented(client_for) -> None:
    from rest_framework.renderers import JSONRenderer

    RuleFactory(condition="+4570", peer=PeerFactory(id="TDC"))
    admin = EmployeeFactory(access_level=AccessLevel.ADMIN)
    media = "application/json; indent=2"

    whole = client_for(admin).get("/api/sbc/rule", HTTP_ACCEPT=media)

    assert not getattr(whole, "streamed", False)
    assert whole.content == JSONRenderer().render(RuleSerializer(Rule.objects.order_by("id"), many=True).data, media)
