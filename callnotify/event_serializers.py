"""Call events and deliveries on the wire (docs/callevents.md §1, §5), and the write-only signing secret (§3)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from callnotify.models import ADDITIONAL_KEYS, CallEvent, CallNotify, Delivery
from callnotify.signing import GeneratedSecret, generate_secret
from telecomx.ids import normalize_id
from telecomx.serializers import ModelCleanSerializer, StrictCharField, StrictChoiceField


class SecretField(StrictCharField):
    """Never shown, except in the one answer that generated it; `"generate"` makes a new secret,
    "" or null removes it. Not write-only in the schema, so that answer's `secret` is typed."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "help_text",
            "The signing secret (http and https endpoints only). Send a Standard Webhooks secret "
            '(`whsec_` and the base64 of 24..64 random bytes), `"generate"` to have one made, or `""` / null '
            "to stop signing. It is never shown again, except in the answer to the request that generated it.",
        )
        super().__init__(required=False, allow_blank=True, max_length=None, **kwargs)

    def run_validation(self, data: Any = empty) -> Any:
        if data is None:
            return ""
        return super().run_validation(data)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        return generate_secret() if value == "generate" else value


def with_generated_secret(data: dict[str, Any], instance: CallNotify) -> dict[str, Any]:
    """The answer that made a secret shows it, once; no other answer ever does."""
    data.pop("secret", None)
    if isinstance(getattr(instance, "secret", None), GeneratedSecret):
        data["secret"] = str(instance.secret)
    return data


class CustomerIdField(StrictCharField):
    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        return normalize_id(value) or value  # a malformed id is simply not found


class DurationField(serializers.IntegerField):
    """Whole seconds, 0 or more (the model's own range check would answer with Django's wording)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")  # a JSON whole number: DRF would also take "5", "5.0" and 100.0
        value = super().to_internal_value(data)
        if value < 0:
            self.fail("invalid")
        return value


@extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
class AdditionalField(serializers.Field):
    """An object; keys other than the documented ones are ignored like unknown body properties."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fail("invalid")
        return {key: data[key] for key in ADDITIONAL_KEYS if key in data}

    def to_representation(self, value: Any) -> Any:
        return value


class CallEventSerializer(ModelCleanSerializer):
    _id = serializers.CharField(source="id", read_only=True)
    callId = StrictCharField(source="call_id", max_length=None, help_text="SIP Call-ID, 1..255 printable characters")
    customer = CustomerIdField(source="customer_id", help_text="id of the customer whose call it is")
    type = StrictChoiceField(choices=CallEvent.Type.choices, help_text="Matched against each endpoint's selection (ALL takes both)")
    direction = StrictChoiceField(choices=CallEvent.Direction.choices)
    state = StrictChoiceField(choices=CallEvent.State.choices, help_text="The state the call reached")
    aNumber = StrictCharField(source="a_number", max_length=None, help_text="caller, E.164, or anonymous")
    bNumber = StrictCharField(source="b_number", max_length=None, help_text="called number, E.164")
    timestamp = serializers.DateTimeField(help_text="when the state was reached, ISO 8601")
    duration = DurationField(required=False, allow_null=True, help_text="talk time, whole seconds")
    cause = StrictCharField(required=False, allow_blank=True, max_length=None, help_text="e.g. NORMAL_CLEARING")
    additional = AdditionalField(required=False, help_text="divertedBy, sbcServer, sourcePeer, destinationPeer, mvno, startedAt, answeredAt")
    sequence = serializers.IntegerField(read_only=True)

    # The other fields' messages are the model fields' (telecomx.messages.documented).
    invalid_messages = {"customer": "Invalid customer"}
    # (callId, state) repeats are answered with the stored event, not refused.
    full_clean_options = {"validate_constraints": False}

    class Meta:
        model = CallEvent
        fields = ["_id", "callId", "customer", "type", "direction", "state", "aNumber", "bNumber", "timestamp",
                  "duration", "cause", "additional", "sequence"]


class DeliverySerializer(serializers.ModelSerializer):
    _id = serializers.CharField(source="id")
    event = serializers.CharField(source="event_id")
    callId = serializers.CharField(source="call_id")
    eventState = serializers.ChoiceField(source="event.state", choices=CallEvent.State.choices)
    state = serializers.ChoiceField(choices=Delivery.State.choices)
    # Left out while they have no value (a client reads absent as "none yet").
    lastStatus = serializers.IntegerField(source="last_status", required=False, help_text="HTTP status of the last attempt, if it got one")
    lastError = serializers.CharField(source="last_error", required=False, help_text="Why the last attempt failed, if it did")
    createdAt = serializers.DateTimeField(source="created_at")
    nextAttemptAt = serializers.DateTimeField(source="next_attempt_at", required=False, help_text="When the next attempt is due (only while PENDING)")
    finishedAt = serializers.DateTimeField(source="finished_at", required=False, help_text="When it became DELIVERED or FAILED")

    class Meta:
        model = Delivery
        fields = ["_id", "event", "callId", "eventState", "sequence", "state", "attempts", "lastStatus", "lastError",
                  "createdAt", "nextAttemptAt", "finishedAt"]
        read_only_fields = fields

    def to_representation(self, instance: Delivery) -> dict[str, Any]:
        data = super().to_representation(instance)
        # "if any" / "while PENDING": empty values are left out (docs/api.md §1).
        return {key: value for key, value in data.items() if value not in (None, "")}


class TestResultSerializer(serializers.Serializer):
    delivered = serializers.BooleanField()
    status = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    durationMs = serializers.IntegerField()


class CallEventAcceptedSerializer(serializers.Serializer):
    _id = serializers.CharField()
    sequence = serializers.IntegerField()
    deliveries = serializers.IntegerField()


class DeliveryPageSerializer(serializers.Serializer):
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    total = serializers.IntegerField()
    deliveries = DeliverySerializer(many=True)
