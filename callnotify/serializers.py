"""Call notify items on the wire (api.md §5)."""

from __future__ import annotations

from rest_framework import serializers

from callnotify.event_serializers import SecretField, with_generated_secret
from callnotify.models import CallNotify
from telecomx.serializers import ModelCleanSerializer, StrictCharField


class CallNotifySerializer(ModelCleanSerializer):
    _id = serializers.CharField(source="id", read_only=True)
    customer = serializers.CharField(source="customer_id", read_only=True)
    url = StrictCharField(max_length=None, help_text="`<protocol>://<host>:<port>/<path>?<args>`; http, https, tcp or udp")
    method = StrictCharField(help_text="POSTARGS, POSTXML1, POSTXML2, POSTJSON, GET1 or GET2")
    selection = StrictCharField(help_text="SIP, MVNO or ALL")
    state = StrictCharField(required=False, help_text="ACTIVE (default) or DISABLED")

    secret = SecretField()  # write-only (events.md §3)
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
