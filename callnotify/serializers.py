"""Call notify items, call events and deliveries on the wire (docs/api.md §5, docs/callevents.md §1, §5),
and the signing secret (docs/callevents.md §3)."""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.fields import SkipField, empty

from callnotify import endpoint_health
from callnotify.models import ADDITIONAL_KEYS, CallEvent, CallNotify, Delivery
from callnotify.signing import GeneratedSecret, generate_secret
from core.ids import normalize_id
from core.representation import ValuesRepresentation
from core.serializers import ModelCleanSerializer, StrictCharField, StrictChoiceField


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


CUSTOMER_NOT_FOUND = str(CallEvent._meta.get_field("customer").error_messages["invalid"])


class CustomerIdField(StrictCharField):
    """A customer the poster may report for: context["reachable"] holds their ids (read in one query
    for the whole request); any other id, malformed ones too, is "Customer not found"."""

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        pk = normalize_id(value)
        if pk is None or pk not in self.context.get("reachable", ()):
            raise serializers.ValidationError(CUSTOMER_NOT_FOUND)
        return pk


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


# CallEventSerializer.quick: the choices (wire name and column alike) and the plain texts by wire name and column.
_CHOICES = (("type", frozenset(CallEvent.Type.values)), ("direction", frozenset(CallEvent.Direction.values)),
            ("state", frozenset(CallEvent.State.values)))
_TEXTS = (("callId", "call_id"), ("aNumber", "a_number"), ("bNumber", "b_number"))


def _passes(column: str, value: Any) -> bool:
    """`value` is a string (or the column's type) that every validator of the model field passes."""
    field = CallEvent._meta.get_field(column)
    if column != "duration" and column != "additional" and not isinstance(value, str):
        return False
    try:
        for validator in field.validators:
            validator(value)
    except DjangoValidationError:
        return False
    return True


@extend_schema_serializer(description="One state change of one call, as a switch reports it.")
class CallEventSerializer(ModelCleanSerializer):
    """One call event as a switch reports it (docs/callevents.md §1)."""

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

    # The other fields' messages are the model fields' (core.messages.documented).
    invalid_messages = {"customer": "Invalid customer"}
    # (customer, callId, state) repeats are answered with the stored event, not refused; the id is new.
    full_clean_options = {"validate_constraints": False, "validate_unique": False}

    def _model_errors(self, attrs: dict[str, Any], failed: set[str]) -> dict[str, list[str]]:
        # The customer was checked by its field against the ids read for the whole request.
        return super()._model_errors(attrs, failed | {"customer_id"})

    @classmethod
    def quick(cls, data: dict[str, Any], reachable: Container[str]) -> dict[str, Any] | None:
        """A well-formed event checked without a serializer, DRF's per-field calls and the model's
        full_clean (a third of a batch's time), for the customers in `reachable` (what run_validation
        reads from its context): the values run_validation answers for it, or None for anything
        else, which then takes run_validation and gets its documented messages. Each value passes
        the model field's own validators; a string with surrounding blanks, which DRF would trim,
        takes the long way. tests/callnotify/test_quick_check.py holds both ways equal over good
        and bad events."""
        attrs: dict[str, Any] = {}
        for name, choices in _CHOICES:
            value = data.get(name)
            if not isinstance(value, str) or value not in choices:
                return None
            attrs[name] = value
        for name, source in _TEXTS:
            value = data.get(name)
            if not _passes(source, value) or not value or value != value.strip():
                return None
            attrs[source] = value
        pk = normalize_id(data.get("customer"))
        if pk is None or pk not in reachable:
            return None
        attrs["customer_id"] = pk
        try:
            # The declared field itself: self.fields would copy and bind every field for this one.
            attrs["timestamp"] = cls._declared_fields["timestamp"].run_validation(data.get("timestamp", empty))
        except (serializers.ValidationError, SkipField):
            return None
        if "duration" in data:
            duration = data["duration"]
            if duration is not None and (type(duration) is not int or not _passes("duration", duration)):
                return None
            attrs["duration"] = duration
        if "cause" in data:
            cause = data["cause"]
            if cause != "" and (not _passes("cause", cause) or cause != cause.strip()):
                return None
            attrs["cause"] = cause
        if "additional" in data:
            additional = data["additional"]
            if not isinstance(additional, dict):
                return None
            kept = {key: additional[key] for key in ADDITIONAL_KEYS if key in additional}
            if kept and not _passes("additional", kept):
                return None
            attrs["additional"] = kept
        return attrs

    class Meta:
        model = CallEvent
        fields = ["_id", "callId", "customer", "type", "direction", "state", "aNumber", "bNumber", "timestamp",
                  "duration", "cause", "additional", "sequence"]


@extend_schema_serializer(description="One call event on its way to one call notify endpoint. Properties without a "
                                      "value yet are left out.")
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


@extend_schema_serializer(description="The outcome of one test delivery.")
class TestResultSerializer(serializers.Serializer):
    delivered = serializers.BooleanField()
    status = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    durationMs = serializers.IntegerField()


@extend_schema_serializer(description="The stored event: its id, its place in the call (`sequence`) and how many "
                                      "deliveries were queued.")
class CallEventAcceptedSerializer(serializers.Serializer):
    _id = serializers.CharField(source="id")
    sequence = serializers.IntegerField()
    deliveries = serializers.IntegerField()

    def to_representation(self, stored: Any) -> dict[str, Any]:
        # The fields above, written out: a batch answers up to 1,000 of these (the schema-validating
        # test client holds the two together).
        return {"_id": stored.id, "sequence": stored.sequence, "deliveries": stored.deliveries}


_ACCEPTED = CallEventAcceptedSerializer()


def accepted(stored: Any) -> dict[str, Any]:
    """The wire form of a stored call event (callnotify.ingest.Stored): POST /api/callevent."""
    return _ACCEPTED.to_representation(stored)


@extend_schema_serializer(description="One page of a delivery log, newest first.")
class DeliveryPageSerializer(serializers.Serializer):
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    total = serializers.IntegerField()
    deliveries = DeliverySerializer(many=True)


@extend_schema_serializer(description="Attempts to an endpoint within one window of time.")
class HealthWindowSerializer(serializers.Serializer):
    delivered = serializers.IntegerField(help_text="attempts that delivered")
    failed = serializers.IntegerField(help_text="attempts that failed (retried or not)")
    p50DurationMs = serializers.IntegerField(allow_null=True, help_text="median attempt duration, as the upper bound of its histogram bucket; null without attempts")
    p95DurationMs = serializers.IntegerField(allow_null=True, help_text="95th percentile attempt duration, the same way")


@extend_schema_serializer(description="How an endpoint's deliveries went lately (kept by the delivery engine).")
class EndpointHealthSerializer(serializers.Serializer):
    lastHour = HealthWindowSerializer()
    lastDay = HealthWindowSerializer()
    lastSuccessAt = serializers.DateTimeField(allow_null=True)
    lastFailureAt = serializers.DateTimeField(allow_null=True)
    consecutiveFailures = serializers.IntegerField(help_text="failed attempts since the last one that delivered")
    failingSince = serializers.DateTimeField(allow_null=True, help_text="when the current run of failures began")
    disabledReason = serializers.CharField(allow_null=True, help_text="why the engine disabled the endpoint, if it did")


@extend_schema_serializer(description="An endpoint of the customer's that is told about its call events, in one of six "
                                      "formats (`method`), over http, https, tcp or udp.")
class CallNotifySerializer(ValuesRepresentation, ModelCleanSerializer):
    """An endpoint told about the customer's call events."""

    values_skip = ("secret", "health")  # a list never shows a secret; health is read for the page at once
    # Its only unique field is the id the server makes (random); the database's key answers a clash.
    full_clean_options = {"validate_unique": False}

    always_answered = ("_id", "customer", "url", "method", "selection", "state")

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
        if self.context.get("made") is instance:  # made by this request: no attempt yet, nothing to read
            return health_wire(endpoint_health.no_attempts())
        return health_wire(endpoint_health.health_of([instance])[instance.pk])

    def to_representation(self, instance: CallNotify) -> dict:
        return with_generated_secret(super().to_representation(instance), instance)

    def finish_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        health = endpoint_health.health_of([row["_id"] for row in rows])
        for row in rows:
            row["health"] = health_wire(health[row["_id"]])
        return rows


_WHEN = serializers.DateTimeField()
_HEALTH_TIMES = ("lastSuccessAt", "lastFailureAt", "failingSince")


def health_wire(health: dict[str, Any]) -> dict[str, Any]:
    """endpoint_health's figures as EndpointHealthSerializer answers them (its times as DRF writes
    times), without a serializer per item."""
    for key in _HEALTH_TIMES:
        if health[key] is not None:
            health[key] = _WHEN.to_representation(health[key])
    return health
