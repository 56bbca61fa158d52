"""core/serializers.py: fields made once per class, copied for each serializer, never shared."""

from __future__ import annotations

import pytest

from callnotify.serializers import CallEventSerializer
from sbcrules.serializers import PeerSerializer, RuleSerializer
from tests.sbcrules.factories import PeerFactory


def test_each_serializer_has_its_own_bound_fields() -> None:
    one, two = RuleSerializer(), RuleSerializer()
    assert one.fields["condition"] is not two.fields["condition"]
    assert one.fields["condition"].parent is one and two.fields["condition"].parent is two


def test_each_serializer_validates_with_its_own_context() -> None:
    first = CallEventSerializer(context={"reachable": {"6b0435fcdbc6a327465cc9cb"}})
    second = CallEventSerializer(context={"reachable": set()})
    event = {"callId": "c1", "customer": "6b0435fcdbc6a327465cc9cb", "type": "SIP", "direction": "INBOUND",
             "state": "RINGING", "aNumber": "+4512345678", "bNumber": "+4570305050", "timestamp": "2026-11-22T10:15:00Z"}
    assert first.run_validation(event)["customer_id"] == "6b0435fcdbc6a327465cc9cb"
    with pytest.raises(Exception, match="Customer not found"):
        second.run_validation(event)


@pytest.mark.django_db
def test_what_one_serializer_changes_on_its_fields_stays_its_own() -> None:
    updating = PeerSerializer(instance=PeerFactory())
    assert updating.fields["_id"].read_only  # a peer's id never changes
    assert not PeerSerializer().fields["_id"].read_only  # a create still sets it
