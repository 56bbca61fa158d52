"""Call notify items on the wire (docs/api.md §5)."""

from __future__ import annotations

from rest_framework import serializers

from callnotify.event_serializers import SecretField, with_generated_secret
from callnotify.models import CallNotify
from telecomx.serializers import ModelCleanSerializer, StrictCharField


class CallNotifySerializer(ModelCleanSerializer):
    """An endpoint told about the customer's call events."""

    _id = serializers.CharField(source="id", read_only=True, help_text="Server-assigned id (24 hex)")
    customer = serializers.CharField(source="customer_id", read_only=True, help_text="Id of the owning customer")
    url = StrictCharField(max_length=None, help_text="`<protocol>://<host>:<port>/<path>?<args>`; http, https, tcp or udp")
    method = serializers.ChoiceField(choices=CallNotify.Method.choices, help_text="Payload format")
    selection = serializers.ChoiceField(choices=CallNotify.Selection.choices, help_text="Which calls' events are sent")
    state = serializers.ChoiceField(
        choices=CallNotify.State.choices, required=False, help_text="DISABLED: no deliveries (default ACTIVE)"
    )
    secret = SecretField()  # write-only (docs/callevents.md §3-4)

    invalid_messages = {
        "url": "Invalid URL",
        "method": "Invalid method",
        "selection": "Invalid selection",
        "state": "Invalid state",
        "secret": "Invalid secret",
    }

    class Meta:
        model = CallNotify
        fields = ["_id", "customer", "url", "method", "selection", "state", "secret"]

    def to_representation(self, instance: CallNotify) -> dict:
        return with_generated_secret(super().to_representation(instance), instance)
