"""SBC routing data: peers and their hosts, rules, DK operators and number portability data.

Every rule lives on the model (field options, `clean()`, `Meta.constraints`), so the admin
refuses exactly what the API refuses. Any change to a rule, peer or host also changes the
routing marker in the same transaction (signals at the bottom), which is how every serving
process learns that its in-memory routing index is stale (see sbcrules/index.py).
"""

from __future__ import annotations

import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import connections, models, router
from django.db.models.functions import Lower
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from sbcrules.validators import (
    OPERATOR_CODE_RE,
    PEER_ID_RE,
    condition_error,
    normalize_condition,
)
from telecomx.ids import new_id


def _messages(message: str) -> dict[str, str]:
    return {key: message for key in ("invalid", "invalid_choice", "blank", "null", "max_length", "required")}


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
        error_messages={**_messages("Peer id is invalid"), "unique": "Peer already exists"},
        help_text="1..32 of A-Z a-z 0-9 _ -, unique ignoring case; used in rules.",
    )
    name = models.CharField(max_length=200, blank=True, error_messages=_messages("Name is invalid"))
    default = models.BooleanField(default=False, help_text="The peer for calls no rule matches (at most one).")
    failover_peer = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="failover_for",
        error_messages={"invalid": "Failover peer not found"},
        help_text="Peer used while this one is unusable.",
    )
    network_interface = models.CharField(max_length=32, blank=True, error_messages=_messages("Network interface is invalid"))
    up = models.BooleanField(default=True, help_text="Off: do not use this peer (its failover is used).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(Lower("id"), name="sbcrules_peer_id_ci_unique", violation_error_message="Peer already exists"),
            models.UniqueConstraint(
                fields=["default"], condition=models.Q(default=True), name="sbcrules_one_default_peer",
                violation_error_message="Another peer is the default",
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
        UDP = "udp"
        TCP = "tcp"
        TLS = "tls"

    peer = models.ForeignKey(Peer, on_delete=models.CASCADE, related_name="hosts")
    address = models.GenericIPAddressField(error_messages=_messages("Host is invalid"))
    port = models.PositiveIntegerField(
        default=5060, validators=[MinValueValidator(1), MaxValueValidator(65535)],
        error_messages={**_messages("Port is invalid"), "min_value": "Port is invalid", "max_value": "Port is invalid"},
    )
    transport = models.CharField(max_length=3, choices=Transport.choices, default=Transport.UDP, error_messages=_messages("Transport is invalid"))
    down = models.BooleanField(default=False)

    class Meta:
        ordering = ["peer", "id"]
        constraints = [
            models.UniqueConstraint(fields=["peer", "address"], name="sbcrules_host_unique", violation_error_message="Host is listed twice"),
        ]

    def __str__(self) -> str:
        return f"{self.uri_host}:{self.port}/{self.transport} ({'down' if self.down else 'up'})"

    @property
    def uri_host(self) -> str:
        return f"[{self.address}]" if ":" in self.address else self.address


class Rule(models.Model):
    class Type(models.TextChoices):
        PREFIX = "PREFIX"
        ANUMBER = "ANUMBER"
        CUSTOMER = "CUSTOMER"
        DKCPS = "DKCPS"

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    type = models.CharField(max_length=8, choices=Type.choices, error_messages=_messages("Type is invalid"))
    # Checked entirely in clean(): its message depends on the type (see clean_fields).
    condition = models.CharField(max_length=64, db_index=False)
    peer = models.ForeignKey(Peer, on_delete=models.PROTECT, related_name="rules", error_messages={"invalid": "Peer not found", "null": "Peer is invalid"})
    note = models.CharField(max_length=1000, blank=True, default="", error_messages=_messages("Note is invalid"))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    _stored_type: str | None = None
    _clean_exclude: frozenset[str] = frozenset()

    class Meta:
        ordering = ["id"]
        constraints = [
            # Also what answers concurrent creates of the same rule: one wins, the rest get 409.
            models.UniqueConstraint(fields=["type", "condition"], name="sbcrules_rule_unique", violation_error_message="Rule already exists"),
        ]
        permissions = [("lookup_route", "Can look up the route of a call (switches)")]

    def __str__(self) -> str:
        return f"{self.type} {self.condition} → {self.peer_id}"

    @classmethod
    def from_db(cls, db: Any, field_names: Any, values: Any) -> "Rule":
        instance = super().from_db(db, field_names, values)
        instance._stored_type = instance.__dict__.get("type")  # the type can never change
        return instance

    def full_clean(self, exclude: Any = None, validate_unique: bool = True, validate_constraints: bool = True) -> None:
        self._clean_exclude = frozenset(exclude or ())
        super().full_clean(exclude=exclude, validate_unique=validate_unique, validate_constraints=validate_constraints)

    def clean_fields(self, exclude: Any = None) -> None:
        super().clean_fields(exclude={*(exclude or ()), "condition"})

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self._stored_type is not None and self.type != self._stored_type:
            errors["type"] = "Type is invalid"
        if "condition" not in self._clean_exclude:
            # An update that leaves the type out checks the condition against the stored type.
            type_ok = self.type in self.Type.values
            message = condition_error(self.type if type_ok else None, self.condition)
            if message:
                errors["condition"] = message
            elif type_ok:
                self.condition = normalize_condition(self.type, self.condition)
        if errors:
            raise ValidationError(errors)

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The API validates a copy of the row; normalise here too so case never splits a key.
        if isinstance(self.condition, str):
            self.condition = normalize_condition(self.type, self.condition)
        super().save(*args, **kwargs)
        self._stored_type = self.type


class DkOperator(OneMessagePerField):
    """A Danish operator, keyed by its 5-digit CPS code."""

    id = models.CharField(
        "code", primary_key=True, max_length=5,
        validators=[RegexValidator(OPERATOR_CODE_RE, "5-digit operator code")],
        error_messages={**_messages("5-digit operator code"), "unique": "Operator already exists"},
    )
    name = models.CharField(max_length=200, error_messages=_messages("Name is invalid"))
    address = models.CharField(max_length=500, blank=True, error_messages=_messages("Address is invalid"))

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


def mark_routing_changed() -> None:
    """Tell every serving process (within its check interval) to rebuild its routing index.

    Once per innermost atomic block: deleting 10,000 rules (one block, 10,000 post_delete
    signals) writes the marker once. A block rolled back takes its changes with it, and any
    later change in the enclosing block is in a different block, so it writes the marker again.
    """
    from sbcrules.index import routing_index  # the index module imports the models

    connection = connections[router.db_for_write(RoutingMarker)]
    block = connection.atomic_blocks[-1] if connection.in_atomic_block else None
    if block is None or getattr(connection, "_routing_marked_in", None) is not block:
        values = {"stamp": secrets.randbits(62), "changed_at": timezone.now()}
        if not RoutingMarker.objects.filter(pk=1).update(**values):
            RoutingMarker.objects.update_or_create(pk=1, defaults=values)
        connection._routing_marked_in = block  # type: ignore[attr-defined]
    routing_index.expire()  # this process checks the marker on its next look-up


@receiver(post_save, sender=Rule)
@receiver(post_delete, sender=Rule)
@receiver(post_save, sender=Peer)
@receiver(post_delete, sender=Peer)
@receiver(post_save, sender=Host)
@receiver(post_delete, sender=Host)
def _routing_changed(**kwargs: Any) -> None:
    mark_routing_changed()
