"""Call notify endpoints (docs/api.md §5)."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import connection, models
from django.db.models.signals import post_save, pre_save
from django.utils.deconstruct import deconstructible

from accounts.models import Customer
from callnotify.signing import validate_secret
from callnotify.validators import MAX_URL_LENGTH, validate_callnotify_url
from core.db import execute
from core.ids import new_id
from core.messages import documented


SECRET_NOT_SIGNABLE = "Only http and https endpoints can be signed"
TOO_MANY = "Too many call notify items"


class CallNotify(models.Model):
    class Method(models.TextChoices):
        POSTARGS = "POSTARGS", "POSTARGS"
        POSTXML1 = "POSTXML1", "POSTXML1"
        POSTXML2 = "POSTXML2", "POSTXML2"
        POSTJSON = "POSTJSON", "POSTJSON"
        GET1 = "GET1", "GET1"
        GET2 = "GET2", "GET2"

    class Selection(models.TextChoices):
        SIP = "SIP", "SIP"
        MVNO = "MVNO", "MVNO"
        ALL = "ALL", "ALL"

    class State(models.TextChoices):
        ACTIVE = "ACTIVE", "ACTIVE"
        DISABLED = "DISABLED", "DISABLED"

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="callnotify_items")
    url = models.CharField(
        max_length=MAX_URL_LENGTH,
        validators=[validate_callnotify_url],
        error_messages=documented("Invalid URL", validators_speak=True),
    )
    method = models.CharField(max_length=8, choices=Method.choices, error_messages=documented("Invalid method"))
    selection = models.CharField(
        max_length=4, choices=Selection.choices, error_messages=documented("Invalid selection")
    )
    state = models.CharField(
        max_length=8, choices=State.choices, default=State.ACTIVE, error_messages=documented("Invalid state")
    )
    # Standard Webhooks signing secret (docs/callevents.md §3-4); write-only in the API, "" = unsigned.
    secret = models.CharField(
        max_length=100, blank=True, default="", validators=[validate_secret],
        error_messages=documented("Invalid secret", validators_speak=True),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "call notify item"
        ordering = ["id"]
        indexes = [models.Index(fields=["customer", "state"])]

    def __str__(self) -> str:
        return f"{self.method} {self.url}"

    # The state as read from the database: enabling a DISABLED endpoint again starts its health
    # afresh (callnotify/endpoint_health.py), whoever disabled it.
    loaded_state: str | None = None

    @classmethod
    def from_db(cls, db: str | None, field_names: list[str], values: list[object]) -> CallNotify:
        instance = super().from_db(db, field_names, values)
        instance.loaded_state = instance.__dict__.get("state")
        return instance

    def is_streamed(self) -> bool:
        """A tcp or udp endpoint: its deliveries carry no headers, so no signature."""
        return isinstance(self.url, str) and self.url.strip().lower().startswith(("tcp:", "udp:"))

    def clean(self) -> None:
        # tcp and udp deliveries carry no headers, so a secret there would never be used: a
        # client asking for signatures is told so rather than trusting an unsigned stream.
        if self.secret and self.is_streamed():
            raise ValidationError({"secret": SECRET_NOT_SIGNABLE})


# A customer's limit: its own, else the node's (one parameter).
_LIMIT = "COALESCE(c.callnotify_limit, %s)"


def _items(vendor: str) -> str:
    """The customer `c`'s number of items: on PostgreSQL the count its row keeps (triggers,
    migration 0014), on SQLite (one writer at a time) counted on the customer's index."""
    if vendor == "postgresql":
        return "c.callnotify_items"
    return f"(SELECT COUNT(*) FROM {CallNotify._meta.db_table} i WHERE i.customer_id = c.id)"


def room_for_another(customer: Customer) -> bool:
    """Whether the customer may add a call notify item now: its own limit, else the node's (the
    admin's check; the API's create checks as it inserts, add_within_limit)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {_items(connection.vendor)} < {_LIMIT} FROM accounts_customer c WHERE c.id = %s",
                       [settings.CALLNOTIFY_MAX_ENDPOINTS_PER_CUSTOMER, customer.pk])
        row = cursor.fetchone()
    return bool(row and row[0])


@cache
def _insert_within_limit(vendor: str) -> str:
    """The INSERT of add_within_limit, written once per process (prepared on PostgreSQL)."""
    q = connection.ops.quote_name
    fields = CallNotify._meta.local_concrete_fields
    held = " FOR NO KEY UPDATE" if vendor == "postgresql" else ""
    return (f"INSERT INTO {q(CallNotify._meta.db_table)} ({', '.join(q(f.column) for f in fields)})"
            f" SELECT {', '.join(['%s'] * len(fields))} FROM accounts_customer c"
            f" WHERE c.id = %s AND {_items(vendor)} < {_LIMIT}{held}")


def add_within_limit(item: CallNotify) -> bool:
    """Store a new item unless its customer has as many as its limit allows: False, nothing stored.

    One statement, whatever happens concurrently. On PostgreSQL the count is a column of the
    customer's row that triggers keep (migration 0014); the statement holds that row (FOR NO KEY
    UPDATE: a call event may still refer to the customer meanwhile) and checks the count again,
    after waiting, against what a concurrent create left. SQLite counts and inserts under its one
    write lock. Fills in what `save()` would (timestamps, defaults) and sends the same signals."""
    pre_save.send(sender=CallNotify, instance=item, raw=False, using=connection.alias, update_fields=None)
    fields = CallNotify._meta.local_concrete_fields
    values = [field.get_db_prep_save(field.pre_save(item, True), connection) for field in fields]
    values = [str(v) if isinstance(v, str) else v for v in values]  # a GeneratedSecret is a str to the driver
    added = execute(_insert_within_limit(connection.vendor), [*values, item.customer_id,
                                                               settings.CALLNOTIFY_MAX_ENDPOINTS_PER_CUSTOMER])
    if added != 1:
        return False
    item._state.adding = False
    item._state.db = connection.alias
    post_save.send(sender=CallNotify, instance=item, created=True, update_fields=None, raw=False, using=connection.alias)
    return True


# --- call events and their delivery (docs/callevents.md) ---

E164_RE = r"^\+[1-9][0-9]{1,14}$"
ADDITIONAL_KEYS = ("divertedBy", "sbcServer", "sourcePeer", "destinationPeer", "mvno", "startedAt", "answeredAt")


@deconstructible
class PrintableValidator:
    """Not empty, printable characters only (control characters break XML and line formats); length is the field's."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __call__(self, value: object) -> None:
        if not isinstance(value, str) or not value or not value.isprintable():
            raise ValidationError(self.message, code="invalid")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrintableValidator) and other.message == self.message


def validate_additional(value: object) -> None:
    """An object of strings (known keys only are kept by the API); printable, at most 255 characters each."""
    if not isinstance(value, dict) or any(
        k not in ADDITIONAL_KEYS or not isinstance(v, str) or len(v) > 255 or not v.isprintable() for k, v in value.items()
    ):
        raise ValidationError("Invalid additional", code="invalid")


class CallEvent(models.Model):
    """One state change of one call, as a switch reported it (docs/callevents.md §1)."""

    class Type(models.TextChoices):
        SIP = "SIP", "SIP"
        MVNO = "MVNO", "MVNO"

    class Direction(models.TextChoices):
        INBOUND = "INBOUND", "INBOUND"
        OUTBOUND = "OUTBOUND", "OUTBOUND"

    class State(models.TextChoices):
        RINGING = "RINGING", "RINGING"
        ANSWERED = "ANSWERED", "ANSWERED"
        HANGUP = "HANGUP", "HANGUP"

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    call_id = models.CharField(max_length=255, validators=[PrintableValidator("Invalid callId")],
                               error_messages=documented("Invalid callId"))
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="call_events",
                                 error_messages={"invalid": "Customer not found", "null": "Customer not found", "blank": "Customer not found"})
    type = models.CharField(max_length=4, choices=Type.choices, error_messages=documented("Invalid type"))
    direction = models.CharField(max_length=8, choices=Direction.choices, error_messages=documented("Invalid direction"))
    state = models.CharField(max_length=8, choices=State.choices, error_messages=documented("Invalid state"))
    a_number = models.CharField(
        max_length=16, validators=[RegexValidator(E164_RE + r"|^anonymous$", "Invalid aNumber")],
        error_messages=documented("Invalid aNumber"),
    )
    b_number = models.CharField(max_length=16, validators=[RegexValidator(E164_RE, "Invalid bNumber")],
                                error_messages=documented("Invalid bNumber"))
    timestamp = models.DateTimeField(error_messages=documented("Invalid timestamp"))
    duration = models.PositiveIntegerField(null=True, blank=True, validators=[MaxValueValidator(10**8, "Invalid duration")],
                                           error_messages=documented("Invalid duration"))
    cause = models.CharField(max_length=64, blank=True, default="", validators=[PrintableValidator("Invalid cause")],
                             error_messages=documented("Invalid cause"))
    additional = models.JSONField(default=dict, blank=True, validators=[validate_additional],
                                  error_messages=documented("Invalid additional"))
    sequence = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The X-Request-ID of the request that brought it in: in the log lines of its deliveries too.
    request_id = models.CharField(max_length=128, blank=True, default="", db_default="", editable=False)

    class Meta:
        verbose_name = "call event"
        ordering = ["-created_at", "-id"]
        constraints = [
            # Idempotency per customer (docs/callevents.md §1) and the per-call sequence, enforced under concurrent posts.
            models.UniqueConstraint(fields=["customer", "call_id", "state"], name="callevent_unique_customer_call_state"),
            models.UniqueConstraint(fields=["customer", "call_id", "sequence"], name="callevent_unique_customer_call_sequence"),
        ]
        # A customer's events newest first (GET /api/customer/<ID>/callevent).
        indexes = [models.Index(fields=["customer", "-timestamp"], name="callevent_customer_time")]

    def __str__(self) -> str:
        return f"{self.call_id} #{self.sequence} {self.state}"


class Delivery(models.Model):
    """One event to one endpoint; PENDING holds the next attempt time (docs/callevents.md §5)."""

    class State(models.TextChoices):
        PENDING = "PENDING", "PENDING"
        DELIVERED = "DELIVERED", "DELIVERED"
        FAILED = "FAILED", "FAILED"

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    event = models.ForeignKey(CallEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(CallNotify, on_delete=models.CASCADE, related_name="deliveries")
    # Copied from the event so the in-order rule is one indexed look-up.
    call_id = models.CharField(max_length=255)
    sequence = models.PositiveIntegerField()
    state = models.CharField(max_length=9, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Attempts started in this round.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Held by the batch attempting it; an expired lease means that worker died mid-attempt.
    lease_until = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"]),
            # The claim's probes (callnotify/delivery.py): endpoints with pending deliveries and
            # their due ones, and each call's earliest pending event at an endpoint. Partial, so
            # their cost follows what is pending, not the whole log.
            # The due index holds PENDING rows with a time (all of them), which the order check
            # below never states: so it cannot be taken for that check, where without statistics
            # it looked as cheap as the call index and read an endpoint's whole backlog per row.
            models.Index(fields=["endpoint", "next_attempt_at"],
                         condition=models.Q(state="PENDING", next_attempt_at__isnull=False), name="delivery_pending_due"),
            models.Index(fields=["endpoint", "call_id", "sequence"], condition=models.Q(state="PENDING"),
                         name="delivery_pending_call"),
            # Leased rows only (record clears the lease): the endpoints a batch is sending to.
            models.Index(fields=["lease_until", "endpoint"], condition=models.Q(lease_until__isnull=False),
                         name="delivery_leased"),
            models.Index(fields=["endpoint", "-created_at"]),
            models.Index(fields=["finished_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.call_id} #{self.sequence} → {self.endpoint_id}: {self.state}"


def behind_an_earlier_event() -> models.Exists:
    """For a query on Delivery: an earlier event of the same call is still PENDING for the same
    endpoint, so this delivery waits its turn (a call's events reach an endpoint in order)."""
    return models.Exists(Delivery.objects.filter(
        endpoint_id=models.OuterRef("endpoint_id"), call_id=models.OuterRef("call_id"),
        state=Delivery.State.PENDING, sequence__lt=models.OuterRef("sequence"),
    ))


class Attempt(models.Model):
    """One try of one delivery: when, how long, and what came of it."""

    class Outcome(models.TextChoices):
        DELIVERED = "DELIVERED", "DELIVERED"
        RETRY = "RETRY", "failed, will retry"
        FAILED = "FAILED", "failed permanently"
        INTERRUPTED = "INTERRUPTED", "interrupted (worker lost; the endpoint may have received it)"

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=11, choices=Outcome.choices)
    status = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["delivery", "number", "id"]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.outcome}"


# Endpoint health, kept by callnotify/endpoint_health.py.
# Upper bounds (ms) of the duration histogram's buckets; the last bucket is everything slower.
BUCKETS_MS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
BUCKET_FIELDS = tuple(f"h{n}" for n in range(len(BUCKETS_MS) + 1))


class EndpointHealth(models.Model):
    endpoint = models.OneToOneField(CallNotify, on_delete=models.CASCADE, primary_key=True, related_name="health")
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # When the current run of failures began (None while the last attempt succeeded).
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True, default="", db_default="")

    class Meta:
        app_label = "callnotify"
        verbose_name = "endpoint health"
        verbose_name_plural = "endpoint health"
        indexes = [models.Index(fields=["-consecutive_failures"], name="callnotify_health_failing")]

    def __str__(self) -> str:
        return f"health of {self.endpoint_id}"


class EndpointMinute(models.Model):
    endpoint = models.ForeignKey(CallNotify, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    minute = models.DateTimeField()
    delivered = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    h0 = models.PositiveIntegerField(default=0)
    h1 = models.PositiveIntegerField(default=0)
    h2 = models.PositiveIntegerField(default=0)
    h3 = models.PositiveIntegerField(default=0)
    h4 = models.PositiveIntegerField(default=0)
    h5 = models.PositiveIntegerField(default=0)
    h6 = models.PositiveIntegerField(default=0)
    h7 = models.PositiveIntegerField(default=0)
    h8 = models.PositiveIntegerField(default=0)
    h9 = models.PositiveIntegerField(default=0)
    h10 = models.PositiveIntegerField(default=0)

    class Meta:
        app_label = "callnotify"
        constraints = [models.UniqueConstraint(fields=["endpoint", "minute"], name="callnotify_endpointminute_key")]
        indexes = [models.Index(fields=["minute"], name="callnotify_endpointminute_age")]
