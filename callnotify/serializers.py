"""Call notify items on the wire (docs/api.md §5)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from callnotify import health
from callnotify.event_serializers import SecretField, with_generated_secret
from callnotify.models import CallNotify
from telecomx.serializers import ModelCleanSerializer, StrictCharField


class HealthWindowSerializer(serializers.Serializer):
    delivered = serializers.IntegerField(help_text="attempts that delivered")
    failed = serializers.IntegerField(help_text="attempts that failed (retried or not)")
    p50DurationMs = serializers.IntegerField(allow_null=True, help_text="median attempt duration, as the upper bound of its histogram bucket; null without attempts")
    p95DurationMs = serializers.IntegerField(allow_null=True, help_text="95th percentile attempt duration, the same way")


class EndpointHealthSerializer(serializers.Serializer):
    lastHour = HealthWindowSerializer()
    lastDay = HealthWindowSerializer()
    lastSuccessAt = serializers.DateTimeField(allow_null=True)
    lastFailureAt = serializers.DateTimeField(allow_null=True)
    consecutiveFailures = serializers.IntegerField(help_text="failed attempts since the last one that delivered")
    failingSince = serializers.DateTimeField(allow_null=True, help_text="when the current run of failures began")
    disabledReason = serializers.CharField(allow_null=True, help_text="why the engine disabled the endpoint, if it did")


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
    health = serializers.SerializerMethodField(help_text="Delivery health, kept by the delivery engine (read-only)")

    class Meta:
        model = CallNotify
        fields = ["_id", "customer", "url", "method", "selection", "state", "secret", "health"]

    @extend_schema_field(EndpointHealthSerializer)
    def get_health(self, instance: CallNotify) -> dict:
        known = self.context.get("health")  # the list view reads every item's health at once
        found = known.get(instance.pk) if known else None
        return EndpointHealthSerializer(found or health.health_of([instance])[instance.pk]).data

    def to_representation(self, instance: CallNotify) -> dict:
        return with_generated_secret(super().to_representation(instance), instance)
