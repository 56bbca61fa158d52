"""SBC routing data: peers and their hosts, rules, DK operators and number portability data.

Every rule lives on the model (field options and messages, `clean()`, `Meta.constraints` with
their 409 message and code), so the admin refuses exactly what the API refuses, and the import
commands run the same checks. The routing marker that tells every serving process its routing
index is stale changes with every rule, peer or host change: see sbcrules/index.py.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower

from accounts.models import Customer
from core.ids import new_id
from core.messages import documented
from sbcrules.trunks import MAX_LIMIT, validate_sources
from sbcrules.validators import OPERATOR_CODE_RE, PEER_ID_RE, condition_format_error, normalize_condition, validate_peer_host


class OneMessagePerField(models.Model):
    """A field failing two checks (length and pattern) with one documented message says it once."""

    class Meta:
        abstract = True

    def clean_fields(self, exclude: Any = None) -> None:
        try:
            super().clean_fields(exclude=exclude)
        except ValidationError as exc:
            raise ValidationError({
                field: list(dict.fromkeys(error for e in errors for error in e.messages))
                for field, errors in exc.error_dict.items()
            }) from None


class Peer(OneMessagePerField):
    """Where calls leave: a carrier interconnect. Its id is its name in rules (`TELENOR`)."""

    id = models.CharField(
        "id", primary_key=True, max_length=32,
        validators=[RegexValidator(PEER_ID_RE, "Peer id is invalid")],
        error_messages=documented("Peer id is invalid", unique="Peer already exists"),
        help_text="1..32 of A-Z a-z 0-9 _ -, unique ignoring case; used in rules.",
    )
    name = models.CharField(max_length=200, blank=True, error_messages=documented("Name is invalid"))
    default = models.BooleanField(
        default=False, help_text="The peer for calls no rule matches (at most one).", error_messages=documented("Default is invalid"),
    )
    failover_peer = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="failover_for",
        error_messages=documented("Failover peer is invalid", invalid="Failover peer not found"),
        help_text="Peer used while this one is unusable.",
    )
    network_interface = models.CharField(max_length=32, blank=True, error_messages=documented("Network interface is invalid"))
    up = models.BooleanField(
        default=True, help_text="Off: do not use this peer (its failover is used).", error_messages=documented("Up is invalid"),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # Also answers a duplicate primary key (telecomx.conflicts: the constraint covering it).
            models.UniqueConstraint(
                Lower("id"), name="sbcrules_peer_id_ci_unique",
                violation_error_message="Peer already exists", violation_error_code="peer",
            ),
            models.UniqueConstraint(
                fields=["default"], condition=models.Q(default=True), name="sbcrules_one_default_peer",
                violation_error_message="Another peer is the default", violation_error_code="default",
            ),
        ]

    def __str__(self) -> str:
        return self.id

    def clean(self) -> None:
        if self.failover_peer_id and self.id and self.failover_peer_id.lower() == self.id.lower():
            raise ValidationError({"failover_peer": "Failover peer is invalid"})


class Host(models.Model):
    """An address a peer exchanges traffic with (SIP port and transport); a host marked down is not used.

    One row per IP address of a peer (`/host/<HOST_IP>` names a host by its address alone).
    """

    class Transport(models.TextChoices):
        UDP = "udp", "udp"
        TCP = "tcp", "tcp"
        TLS = "tls", "tls"

    peer = models.ForeignKey(Peer, on_delete=models.CASCADE, related_name="hosts")
    address = models.GenericIPAddressField(error_messages=documented("Host is invalid"), validators=[validate_peer_host])
    port = models.PositiveIntegerField(
        default=5060, validators=[MinValueValidator(1), MaxValueValidator(65535)],
        error_messages=documented("Port is invalid", min_value="Port is invalid", max_value="Port is invalid"),
    )
    transport = models.CharField(max_length=3, choices=Transport.choices, default=Transport.UDP, error_messages=documented("Transport is invalid"))
    down = models.BooleanField(default=False, error_messages=documented("Down is invalid"))

    class Meta:
        ordering = ["peer", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["peer", "address"], name="sbcrules_host_unique",
                violation_error_message="Host is listed twice", violation_error_code="host",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.uri_host}:{self.port}/{self.transport} ({'down' if self.down else 'up'})"

    @property
    def uri_host(self) -> str:
        return f"[{self.address}]" if ":" in self.address else self.address


class References:
    """Whether the rows a rule's condition names exist: asked of the database, one query each.

    The importer passes a `CachedReferences` so a file of 100,000 rules costs a query per distinct
    customer, not per line.
    """

    def customer_exists(self, pk: str) -> bool:
        return Customer.objects.exclude(state=Customer.State.DELETED).filter(pk=pk).exists()

    def operator_exists(self, code: str) -> bool:
        return DkOperator.objects.filter(pk=code).exists()


class CachedReferences(References):
    def __init__(self) -> None:
        self.operators = set(DkOperator.objects.values_list("id", flat=True))
        self.customers: dict[str, bool] = {}

    def customer_exists(self, pk: str) -> bool:
        if pk not in self.customers:
            self.customers[pk] = super().customer_exists(pk)
        return self.customers[pk]

    def operator_exists(self, code: str) -> bool:
        return code in self.operators


class ConditionField(models.CharField):
    """A rule's condition: its check and its message depend on the rule's type (Rule.check_condition).

    Checked as a field, so `full_clean(exclude=...)` leaves it alone like any other field (an
    update that does not send it is not refused because a customer was deleted since), and
    stored in its normal spelling (customer ids in lower case) however the row was written.
    """

    def clean(self, value: Any, model_instance: Any) -> Any:
        return model_instance.check_condition(value)

    def pre_save(self, model_instance: Any, add: bool) -> Any:
        value = getattr(model_instance, self.attname)
        if isinstance(value, str) and model_instance.type in Rule.Type.values:
            value = normalize_condition(model_instance.type, value)
            setattr(model_instance, self.attname, value)
        return value

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.CharField", args, kwargs  # nothing of it is stored differently


class Rule(models.Model):
    class Type(models.TextChoices):
        PREFIX = "PREFIX", "PREFIX"
        ANUMBER = "ANUMBER", "ANUMBER"
        CUSTOMER = "CUSTOMER", "CUSTOMER"
        DKCPS = "DKCPS", "DKCPS"

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    type = models.CharField(max_length=8, choices=Type.choices, error_messages=documented("Type is invalid"))
    condition = ConditionField(max_length=64, db_index=False, error_messages=documented("Condition is invalid"))
    peer = models.ForeignKey(
        Peer, on_delete=models.PROTECT, related_name="rules", error_messages=documented("Peer is invalid", invalid="Peer not found"),
    )
    note = models.CharField(max_length=1000, blank=True, default="", error_messages=documented("Note is invalid"))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Where the condition's customer or operator is looked up (the importer sets a cache).
    references: References = References()

    class Meta:
        ordering = ["id"]
        constraints = [
            # Also what answers concurrent creates of the same rule: one wins, the rest get 409.
            models.UniqueConstraint(
                fields=["type", "condition"], name="sbcrules_rule_unique",
                violation_error_message="Rule already exists", violation_error_code="rule",
            ),
        ]
        permissions = [("lookup_route", "Can look up the route of a call (switches)")]

    def __str__(self) -> str:
        return f"{self.type} {self.condition} → {self.peer_id}"

    # What a CUSTOMER or DKCPS condition naming nothing known is refused with.
    NO_CUSTOMER = "Customer not found"
    NO_OPERATOR = "CPS not found"

    def check_condition(self, condition: Any) -> str:
        """The condition in its stored spelling, or ValidationError with the documented message.

        Its format depends on the type (a missing or invalid type: only "is it a string"); a
        CUSTOMER condition must name a customer that is not deleted, a DKCPS one a known operator.
        """
        rule_type = self.type if self.type in self.Type.values else None
        message = condition_format_error(rule_type, condition)
        if message is None and rule_type is not None:
            condition = normalize_condition(rule_type, condition)
            if rule_type == self.Type.CUSTOMER and not self.references.customer_exists(condition):
                message = self.NO_CUSTOMER
            elif rule_type == self.Type.DKCPS and not self.references.operator_exists(condition):
                message = self.NO_OPERATOR
        if message:
            raise ValidationError(message, code="not_found" if message.endswith("not found") else "invalid")
        return condition

    def clean(self) -> None:
        # docs/api.md §6: a rule's type never changes (one primary-key query, on updates only).
        if not self._state.adding and Rule.objects.filter(pk=self.pk).exclude(type=self.type).exists():
            raise ValidationError({"type": self._meta.get_field("type").error_messages["invalid"]})


class DkOperator(OneMessagePerField):
    """A Danish operator, keyed by its 5-digit CPS code."""

    id = models.CharField(
        "code", primary_key=True, max_length=5,
        validators=[RegexValidator(OPERATOR_CODE_RE, "5-digit operator code")],
        error_messages=documented("5-digit operator code", unique="Operator already exists"),
    )
    name = models.CharField(max_length=200, error_messages=documented("Name is invalid"))
    address = models.CharField(max_length=500, blank=True, error_messages=documented("Address is invalid"))

    class Meta:
        ordering = ["id"]
        verbose_name = "DK operator"

    def __str__(self) -> str:
        return f"{self.id} {self.name}"


class PortedNumber(models.Model):
    """A Danish number that was ported: the operator now serving it (E.164, `+4570305050`)."""

    number = models.CharField(primary_key=True, max_length=16)
    operator = models.ForeignKey(DkOperator, on_delete=models.PROTECT, related_name="+", db_index=False)

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return f"{self.number} → {self.operator_id}"


class NumberRange(models.Model):
    """A number block and its holder; the longest matching prefix holds a number not ported."""

    prefix = models.CharField(primary_key=True, max_length=16)
    operator = models.ForeignKey(DkOperator, on_delete=models.PROTECT, related_name="+", db_index=False)

    class Meta:
        ordering = ["prefix"]

    def __str__(self) -> str:
        return f"{self.prefix}… → {self.operator_id}"


class RoutingMarker(models.Model):
    """One row whose `stamp` changes with every rule, peer or host change (in the same transaction).

    A random stamp rather than a counter: a rolled-back change followed by another one could
    bring a counter back to a value a process already built its index for.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    stamp = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"routing marker {self.stamp:x}"


class Trunk(OneMessagePerField):
    """Where a customer's calls come from (docs/sbcrules.md, "Trunks"): the addresses the switch
    sees them arrive from, and the customer's limits there. Written through sbcrules.trunks.save_trunk,
    which claims the sources (one address, one trunk) under the routing marker's lock."""

    class State(models.TextChoices):
        ACTIVE = "ACTIVE", "ACTIVE"
        DISABLED = "DISABLED", "DISABLED"

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="trunks", error_messages=documented("Customer not found"))
    name = models.CharField(max_length=100, error_messages=documented("Name is invalid"), help_text="What sends the calls, e.g. Hansen PBX.")
    sources = models.JSONField(
        validators=[validate_sources], error_messages=documented("Source is invalid"),
        help_text="1..100 IPv4/IPv6 addresses or CIDR blocks the calls come from; no address in two trunks.",
    )
    max_calls = models.PositiveIntegerField(
        "max calls", null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_LIMIT)],
        error_messages=documented("Max calls is invalid", min_value="Max calls is invalid", max_value="Max calls is invalid"),
        help_text="Calls in progress at once (empty: no limit).",
    )
    calls_per_second = models.PositiveIntegerField(
        "calls per second", null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_LIMIT)],
        error_messages=documented("Calls per second is invalid", min_value="Calls per second is invalid",
                                  max_value="Calls per second is invalid"),
        help_text="New calls per second (empty: no limit).",
    )
    trust_customer_header = models.BooleanField(
        default=False, error_messages=documented("Trust customer header is invalid"),
        help_text="A border element: its X-Customer header names the customer of a call, for customers this trunk's customer reaches.",
    )
    state = models.CharField(max_length=8, choices=State.choices, default=State.ACTIVE, error_messages=documented("State is invalid"))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} ({', '.join(self.sources or [])})"


class TrunkSource(models.Model):
    """One source of a trunk as a range of addresses (fixed-width hex: text order is numeric
    order), so that an overlap is one indexed range query (sbcrules.trunks)."""

    trunk = models.ForeignKey(Trunk, on_delete=models.CASCADE, related_name="+")
    network = models.CharField(max_length=43)
    family = models.PositiveSmallIntegerField()
    first = models.CharField(max_length=32)
    last = models.CharField(max_length=32)

    class Meta:
        indexes = [models.Index(fields=["family", "first"], name="sbcrules_trunksource_range")]

    def __str__(self) -> str:
        return self.network
