"""Shapes of the answers that are not model objects (route look-up, DK numbers): they type the
OpenAPI schema, so clients generated from it get real classes instead of untyped objects."""

from __future__ import annotations

from rest_framework import serializers

from sbcrules.models import Rule

REASONS = ["anumber", "customer", "dkcps", "prefix", "default", "no_route", "no_usable_peer"]


class RouteRuleSerializer(serializers.Serializer):
    _id = serializers.CharField(help_text="The rule's id")
    type = serializers.ChoiceField(choices=Rule.Type.choices)
    condition = serializers.CharField()


class RouteTargetSerializer(serializers.Serializer):
    peer = serializers.CharField(help_text="The peer this host belongs to")
    host = serializers.CharField(help_text="IPv4 or IPv6 address (in a SIP URI an IPv6 one goes in brackets)")
    port = serializers.IntegerField(min_value=1, max_value=65535)
    transport = serializers.ChoiceField(choices=["udp", "tcp", "tls"])


class RouteAnswerSerializer(serializers.Serializer):
    peer = serializers.CharField(allow_null=True, help_text="The peer the call leaves through; null when there is none")
    rule = RouteRuleSerializer(allow_null=True, help_text="The rule that decided; null for the default peer and no route")
    reason = serializers.ChoiceField(
        choices=REASONS,
        help_text="Which step decided: `anumber`, `customer`, `dkcps`, `prefix`, `default`; or why there is no peer: "
        "`no_route` (nothing matched and no default peer), `no_usable_peer` (the failover chain ended in a loop or a dead end)",
    )
    operator = serializers.CharField(required=False, help_text="CPS code of the operator serving the destination, when known")
    chain = serializers.ListField(child=serializers.CharField(), help_text="The peers tried, in order (failover walks)")
    targets = RouteTargetSerializer(
        many=True,
        help_text="Where to send the call, in order: the chosen peer's usable hosts, then its failover peers'; "
        "try the next after a 503, 408 or timeout; [] when peer is null",
    )


class DkNumberSerializer(serializers.Serializer):
    number = serializers.CharField(help_text="The number, E.164")
    operator = serializers.CharField(help_text="CPS code of the operator serving it")
    ported = serializers.BooleanField(help_text="true: a ported-number record; false: the holder of its number range")


class DkNumberPageSerializer(serializers.Serializer):
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    total = serializers.IntegerField()
    numbers = DkNumberSerializer(many=True)
