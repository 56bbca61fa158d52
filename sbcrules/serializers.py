"""SBC rules, peers, DK operators and numbers on the wire (docs/api.md §6-8), and the answers that
are not model objects (route look-up, DK numbers): their serializers type the OpenAPI schema, so
clients generated from it get real classes instead of untyped objects."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from core.errors import ApiError
from core.messages import message_of, serializer_messages
from core.representation import ValuesRepresentation
from core.serializers import (ModelCleanSerializer, NullAsBlankCharField, StrictBooleanField, StrictCharField,
                                  StrictChoiceField)
from sbcrules.models import DkOperator, Host, Peer, Rule, Trunk
from sbcrules.routing import Decision
from accounts.models import AccessLevel
from sbcrules.trunks import SOURCE_INVALID, normalize_sources, sources_narrow
from sbcrules.validators import is_peer_id, peer_host

NOT_FOUND = "not_found"  # the code of a field error that names a row that does not exist
# A host's messages are the Host model's: its address field's, and its uniqueness constraint's.
HOST_INVALID = message_of(Host._meta.get_field("address"))
HOST_TWICE = next(str(c.violation_error_message) for c in Host._meta.constraints if c.name == "sbcrules_host_unique")
HOSTS_INVALID = "Hosts are invalid"
HOST_STATE_INVALID = "Host state is invalid"
HOST_PORT_INVALID = "Port is invalid"
HOST_TRANSPORT_INVALID = "Transport is invalid"


def find_peer_id(value: str) -> str | None:
    """The peer's own id for an id in any case, or None."""
    return Peer.objects.filter(id__iexact=value).values_list("id", flat=True).first()


class PeerRefField(StrictCharField):
    """A peer id in any case → the peer's own id; the model field's "not found" message (its
    `invalid`, as Django words a missing foreign key) with the code `not_found` when no such peer."""

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not is_peer_id(value):
            self.fail("invalid")
        found = find_peer_id(value)
        if found is None:
            model_field = self.parent.Meta.model._meta.get_field(self.source.removesuffix("_id"))
            raise ValidationError(model_field.error_messages["invalid"], code=NOT_FOUND)
        return found


@extend_schema_serializer(description="An outbound routing rule: calls matching `condition`, read as `type` says, leave "
                                      "through `peer`.")
class RuleSerializer(ValuesRepresentation, ModelCleanSerializer):
    always_answered = ("_id", "type", "condition", "peer", "note")

    _id = serializers.CharField(source="id", read_only=True)
    type = StrictChoiceField(choices=Rule.Type.choices, help_text="What the condition is matched against; cannot change after create")
    condition = StrictCharField(
        trim_whitespace=False,
        help_text="PREFIX: `+` and 1..15 digits (`+4570`); ANUMBER: a full E.164 caller number (`+4512345678`); "
        "CUSTOMER: the id of an existing customer; DKCPS: the 5-digit CPS code of an existing DK operator (`01011`)",
    )
    peer = PeerRefField(source="peer_id", help_text="Id of an existing peer (any case; answered in the peer's own case)")
    note = NullAsBlankCharField(
        required=False, allow_null=True, allow_blank=True, trim_whitespace=False, max_length=1000,
        help_text="Free text, up to 1000 characters; null is stored (and answered) as an empty string",
    )

    # (type, condition) uniqueness is the database's to answer (409), also under races.
    full_clean_options = {"validate_constraints": False}

    class Meta:
        model = Rule
        fields = ["_id", "type", "condition", "peer", "note"]

    def _model_errors(self, attrs: dict[str, Any], failed: set[str]) -> dict[str, list[str]]:
        errors = super()._model_errors(attrs, failed)
        # Which customers the caller may name is the view's to say (the Access table's decision).
        may_name = self.context.get("may_name_customer")
        rule_type = attrs.get("type", self.instance.type if self.instance is not None else None)
        if (may_name is not None and rule_type == "CUSTOMER" and "condition" in attrs and "condition" not in errors
                and not may_name(attrs["condition"])):
            errors["condition"] = [Rule.NO_CUSTOMER]  # a customer out of reach is answered as an unknown one
        return errors

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # "Peer not found" is a 404 (docs/api.md §6), so it cannot join a 422 `multiple`: the
        # 422s are reported first, the 404 once the rest of the body is valid.
        try:
            attrs = super().to_internal_value(data)
        except ValidationError as exc:
            detail = dict(exc.detail)  # type: ignore[arg-type]
            missing = [m for m in detail.get("peer", []) if getattr(m, "code", None) == NOT_FOUND]
            if missing:
                del detail["peer"]
                if not detail:
                    raise ApiError(404, "peer", str(missing[0]), path="peer") from None
            raise ValidationError(detail) from None
        return attrs


HOST_TRANSPORTS = tuple(Host.Transport.values)


@extend_schema_field({
    "type": "array",
    "items": {
        "type": "object",
        "required": ["host"],
        "properties": {
            "host": {"type": "string", "description": "IPv4 or IPv6 address"},
            "state": {"type": "string", "enum": ["up", "down"], "default": "up"},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 5060},
            "transport": {"type": "string", "enum": list(HOST_TRANSPORTS), "default": "udp"},
        },
    },
})
class HostsField(serializers.Field):
    """`[{"host": "<IP>", "state": "up"|"down", "port": 5060, "transport": "udp"}]`; the whole
    list replaces the peer's hosts. A host sent without state, port or transport keeps what it
    had (a new one: up, 5060, udp)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", **kwargs)

    def to_representation(self, peer: Peer) -> list[dict[str, Any]]:
        return [
            {"host": h.address, "state": "down" if h.down else "up", "port": h.port, "transport": h.transport}
            for h in peer.hosts.all()
        ]

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, list):
            raise ValidationError(HOSTS_INVALID)
        hosts: dict[str, dict[str, Any]] = {}
        errors: list[dict[str, list[str]]] = []
        for item in data:
            error: dict[str, list[str]] = {}
            item = item if isinstance(item, dict) else {}
            address, state = item.get("host"), item.get("state")
            port, transport = item.get("port"), item.get("transport")
            address = peer_host(address)  # an address a call can be sent to (no unspecified, broadcast, multicast)
            if address is None:
                error["host"] = [HOST_INVALID]
            elif address in hosts:
                error["host"] = [HOST_TWICE]
            if state not in (None, "up", "down"):
                error["state"] = [HOST_STATE_INVALID]
            if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
                error["port"] = [HOST_PORT_INVALID]
            if transport is not None and transport not in HOST_TRANSPORTS:
                error["transport"] = [HOST_TRANSPORT_INVALID]
            errors.append(error)
            if not error:
                wanted = {"down": None if state is None else state == "down", "port": port, "transport": transport}
                hosts[address] = {key: value for key, value in wanted.items() if value is not None}
        if any(errors):
            raise ValidationError(errors)
        return {"wanted_hosts": hosts}


@extend_schema_serializer(description="An SBC peer (carrier trunk) calls leave through. Usable when `up` and at least one "
                                      "host is not down.")
class PeerSerializer(ModelCleanSerializer):
    always_answered = ("_id", "name", "default", "hosts", "networkInterface", "up")

    _id = StrictCharField(source="id", help_text="1..32 of A-Z a-z 0-9 _ -; set once, at create")
    name = StrictCharField(required=False, allow_blank=True)
    default = StrictBooleanField(required=False)
    hosts = HostsField(required=False)
    failoverPeerId = PeerRefField(source="failover_peer_id", required=False, allow_null=True)  # noqa: N815 - the wire name
    networkInterface = StrictCharField(source="network_interface", required=False, allow_blank=True)  # noqa: N815
    up = StrictBooleanField(required=False)

    invalid_messages = {"hosts": HOSTS_INVALID}  # not a model field; the others' are the model's
    # The database answers duplicate ids (any case) and a second default with 409s.
    full_clean_options = {"validate_unique": False, "validate_constraints": False}

    class Meta:
        model = Peer
        fields = ["_id", "name", "default", "hosts", "failoverPeerId", "networkInterface", "up"]

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        if self.instance is not None:
            fields["_id"].read_only = True  # a peer's id is its name in rules: it never changes
        return fields

    def to_representation(self, instance: Peer) -> dict[str, Any]:
        body = super().to_representation(instance)
        if body.get("failoverPeerId") is None:
            body.pop("failoverPeerId", None)
        return body

    @transaction.atomic
    def create(self, validated_data: dict[str, Any]) -> Peer:
        hosts = validated_data.pop("wanted_hosts", {})
        peer = Peer.objects.create(**validated_data)
        self._save_hosts(peer, hosts)
        return peer

    @transaction.atomic
    def update(self, instance: Peer, validated_data: dict[str, Any]) -> Peer:
        hosts = validated_data.pop("wanted_hosts", None)
        for key, value in validated_data.items():
            setattr(instance, key, value)
        instance.save()
        if hosts is not None:
            self._save_hosts(instance, hosts)
        return instance

    @staticmethod
    def _save_hosts(peer: Peer, wanted: dict[str, dict[str, Any]]) -> None:
        """Replace the peer's hosts; what a host is sent without it keeps (a new one: defaults)."""
        current = {host.address: host for host in peer.hosts.all()}
        for address, host in current.items():
            if address not in wanted:
                host.delete()
        for address, values in wanted.items():
            host = current.get(address)
            if host is None:
                Host.objects.create(peer=peer, address=address, **values)
                continue
            changed = [key for key, value in values.items() if getattr(host, key) != value]
            if changed:
                for key in changed:
                    setattr(host, key, values[key])
                host.save(update_fields=changed)
        if hasattr(peer, "_prefetched_objects_cache"):
            peer._prefetched_objects_cache.pop("hosts", None)


@extend_schema_serializer(description="Whether one host of a peer is marked down.")
class HostStateSerializer(serializers.Serializer):
    host = serializers.CharField(read_only=True, help_text="The host's IP address")
    down = StrictBooleanField(error_messages=serializer_messages(message_of(Host._meta.get_field("down")) or ""))


@extend_schema_serializer(description="A Danish operator, keyed by its 5-digit CPS code.")
class DkOperatorSerializer(ModelCleanSerializer):
    always_answered = ("_id", "name", "address")

    _id = StrictCharField(source="id", help_text="The operator's 5-digit CPS code; set once, at create")
    name = StrictCharField()
    address = NullAsBlankCharField(required=False, allow_blank=True, allow_null=True, help_text="Postal address; null is stored as an empty string")

    full_clean_options = {"validate_unique": False}

    class Meta:
        model = DkOperator
        fields = ["_id", "name", "address"]

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        if self.instance is not None:
            fields["_id"].read_only = True
        return fields


# --- trunks (docs/sbcrules.md, "Trunks") ---


class StrictLimitField(serializers.IntegerField):
    """A whole number or null (no limit): DRF's IntegerField would take "5", 5.0 and true."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_null=True, required=False, **kwargs)

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field({"type": "array", "items": {"type": "string", "description": "IPv4/IPv6 address or CIDR block"},
                     "minItems": 1, "maxItems": 100})
class SourcesField(serializers.Field):
    """A list of strings, each read as an address or a block (sbcrules.trunks: the model checks them)."""

    def to_internal_value(self, data: Any) -> list[str]:
        if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
            self.fail("invalid")
        return normalize_sources(data)

    def to_representation(self, value: Any) -> list[str]:
        return list(value)


class TrunkSerializer(ModelCleanSerializer):
    _id = serializers.CharField(source="id", read_only=True)
    customer = serializers.CharField(source="customer_id", read_only=True, help_text="The customer the trunk belongs to")
    name = StrictCharField(max_length=100, help_text="1..100 characters: what sends the calls")
    sources = SourcesField(help_text="1..100 IPv4/IPv6 addresses or CIDR blocks the calls come from (answered in their "
                           "normal spelling); no address in two trunks (409)")
    maxCalls = StrictLimitField(source="max_calls", help_text="Calls in progress at once, ≥ 1; null or absent: no limit")
    callsPerSecond = StrictLimitField(source="calls_per_second", help_text="New calls per second, ≥ 1; null or absent: no limit")
    trustCustomerHeader = StrictBooleanField(
        source="trust_customer_header", required=False,
        help_text="A border element: the switch's X-Customer header (the look-up's `customer`) is honoured for customers "
        "this trunk's customer reaches; otherwise ignored",
    )
    state = StrictChoiceField(choices=Trunk.State.choices, required=False, help_text="`ACTIVE` (default) or `DISABLED`: a "
                              "disabled trunk's sources are unknown to the switch")

    class Meta:
        model = Trunk
        fields = ["_id", "customer", "name", "sources", "maxCalls", "callsPerSecond", "trustCustomerHeader", "state"]

    def _model_errors(self, attrs: dict[str, Any], failed: set[str]) -> dict[str, list[str]]:
        errors = super()._model_errors(attrs, failed)
        request = self.context.get("request")
        # A reseller's trunk names its customers' own systems: at most a /24 (IPv4) or a /48 (IPv6).
        # A wider block would take calls from addresses that are nobody's trunk yet (other
        # customers' future PBXs) as its customer's, and keep them from anyone else (409).
        if (request is not None and "sources" in attrs and "sources" not in errors
                and request.user.access_level != AccessLevel.ADMIN and not sources_narrow(attrs["sources"])):
            errors["sources"] = [SOURCE_INVALID]
        return errors


# --- answers that are not model objects ---

REASONS = ["anumber", "customer", "dkcps", "prefix", "default", "no_route", "no_usable_peer", "unknown_source"]


@extend_schema_serializer(description="The rule that decided a route.")
class RouteRuleSerializer(serializers.Serializer):
    _id = serializers.CharField(source="id", help_text="The rule's id")
    type = serializers.ChoiceField(choices=Rule.Type.choices)
    condition = serializers.CharField()


@extend_schema_serializer(description="One host a switch may send the call to.")
class RouteTargetSerializer(serializers.Serializer):
    peer = serializers.CharField(help_text="The peer this host belongs to")
    host = serializers.CharField(help_text="IPv4 or IPv6 address (in a SIP URI an IPv6 one goes in brackets)")
    port = serializers.IntegerField(min_value=1, max_value=65535)
    transport = serializers.ChoiceField(choices=["udp", "tcp", "tls"])


@extend_schema_serializer(description="The trunk a call came from, and its limits.")
class RouteTrunkSerializer(serializers.Serializer):
    _id = serializers.CharField(help_text="The trunk's id")
    maxCalls = serializers.IntegerField(allow_null=True, help_text="Calls in progress the trunk may have; null: no limit")
    callsPerSecond = serializers.IntegerField(allow_null=True, help_text="New calls per second; null: no limit")


@extend_schema_serializer(description="The routing decision for one call.")
class RouteAnswerSerializer(serializers.Serializer):
    peer = serializers.CharField(allow_null=True, help_text="The peer the call leaves through; null when there is none")
    rule = RouteRuleSerializer(allow_null=True, help_text="The rule that decided; null for the default peer and no route")
    reason = serializers.ChoiceField(
        choices=REASONS,
        help_text="Which step decided: `anumber`, `customer`, `dkcps`, `prefix`, `default`; or why there is no peer: "
        "`no_route` (nothing matched and no default peer), `no_usable_peer` (the failover chain ended in a loop or a dead end), "
        "`unknown_source` (asked with `source`: no active trunk holds that address; a switch refuses the call)",
    )
    operator = serializers.CharField(required=False, help_text="CPS code of the operator serving the destination, when known")
    chain = serializers.ListField(child=serializers.CharField(), help_text="The peers tried, in order (failover walks)")
    targets = RouteTargetSerializer(
        many=True,
        help_text="Where to send the call, in order: the chosen peer's usable hosts, then its failover peers'; "
        "try the next after a 503, 408 or timeout; [] when peer is null",
    )
    customer = serializers.CharField(
        required=False, help_text="Asked with `source`: whose call it is (the trunk's customer, or the customer its trusted "
        "border element named); absent otherwise and for `unknown_source`",
    )
    trunk = RouteTrunkSerializer(required=False, help_text="Asked with `source`: the trunk the call came from and its limits")

    def to_representation(self, decision: Decision) -> dict[str, object]:
        # The fields above, written out: a switch asks for every call, and DRF's field-by-field walk
        # costs tens of µs per answer. The schema-validating test client holds the two together.
        body: dict[str, object] = {
            "peer": decision.peer,
            "rule": {"_id": decision.rule.id, "type": decision.rule.type, "condition": decision.rule.condition}
            if decision.rule else None,
            "reason": decision.reason,
        }
        if decision.operator is not None:
            body["operator"] = decision.operator
        body["chain"] = list(decision.chain)
        body["targets"] = list(decision.targets)
        if decision.trunk is not None:  # asked with `source`
            body["customer"] = decision.customer
            body["trunk"] = decision.trunk.as_dict()
        return body


_ROUTE_ANSWER = RouteAnswerSerializer()


def route_answer(decision: Decision) -> dict[str, object]:
    """The wire form of a routing decision (docs/api.md §9): GET /api/sbc/route, `manage.py route`."""
    return _ROUTE_ANSWER.to_representation(decision)


@extend_schema_serializer(description="Which operator serves a Danish number.")
class DkNumberSerializer(serializers.Serializer):
    number = serializers.CharField(help_text="The number, E.164")
    operator = serializers.CharField(help_text="CPS code of the operator serving it")
    ported = serializers.BooleanField(help_text="true: a ported-number record; false: the holder of its number range")


@extend_schema_serializer(description="One page of ported numbers.")
class DkNumberPageSerializer(serializers.Serializer):
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    total = serializers.IntegerField()
    numbers = DkNumberSerializer(many=True)
