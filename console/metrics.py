"""GET /api/metrics: delivery and routing counters for operators (ADMIN), as one JSON object.

Delivery figures come from the database (all processes); routing decisions are counted over
every process of the node that answers (the Prometheus counters of GET /metrics); the index
figures are the answering process's own.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone
from drf_spectacular.utils import extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import Access
from callnotify import sweep
from callnotify.models import Delivery
from core import metrics
from core.docs import documented
from core.errors import DENIED
from sbcrules.index import routing_index
from sbcrules.serializers import REASONS


def delivery_counters() -> dict[str, object]:
    now = timezone.now()
    by_state = dict(Delivery.objects.order_by().values_list("state").annotate(n=Count("id")))
    finished = dict(
        Delivery.objects.order_by().filter(finished_at__gte=now - timedelta(hours=1))
        .values_list("state").annotate(n=Count("id"))
    )
    return {
        "byState": {state: by_state.get(state, 0) for state in Delivery.State.values},
        "finishedLastHour": {state: finished.get(state, 0) for state in (Delivery.State.DELIVERED, Delivery.State.FAILED)},
        "overduePending": sweep.overdue(now).count(),
        "heldPending": sweep.held(now).count(),
    }


def routing_counters() -> dict[str, object]:
    index = routing_index.current()
    decided = metrics.counter_values("telecomx_route_lookups")  # every process of this node
    built_at = routing_index.built_at
    return {
        "process": os.getpid(),
        "rules": index.rule_count,
        "rulesByType": {"ANUMBER": len(index.anumber), "CUSTOMER": len(index.customer), "DKCPS": len(index.dkcps), "PREFIX": len(index.prefix)},
        "peers": len(index.peers),
        "unusablePeers": sorted(peer.id for peer in index.peers.values() if not peer.usable),
        "defaultPeer": index.default_peer,
        "indexRebuilds": routing_index.rebuilds,
        "indexAgeSeconds": round(time.time() - built_at, 1) if built_at else None,
        "decisions": {reason: int(decided.get((("reason", reason),), 0)) for reason in REASONS},
    }


def _counts(component: str, names: list[str], help_text: str) -> serializers.Serializer:
    return inline_serializer(component, {n: serializers.IntegerField() for n in names}, help_text=help_text)


DeliveryStates = list(Delivery.State.values)
@extend_schema_serializer(description="Delivery and routing counters.")
class MetricsSerializer(serializers.Serializer):
    deliveries = inline_serializer("DeliveryMetrics", {
        "byState": _counts("DeliveryCounts", DeliveryStates, "Deliveries stored, by state"),
        "finishedLastHour": _counts("FinishedCounts", ["DELIVERED", "FAILED"], "Deliveries that finished in the last hour, by state"),
        "overduePending": serializers.IntegerField(
            help_text="PENDING deliveries past their due time by more than CALLNOTIFY_SWEEP_GRACE_SECONDS (60 s) that "
            "nothing holds: no attempt under way, no earlier event of their call before them"),
        "heldPending": serializers.IntegerField(
            help_text="PENDING deliveries as late, held behind an earlier event of the same call to the same endpoint "
            "(a call's events arrive in order): they go as soon as that one is done"),
    })
    routing = inline_serializer("RoutingMetrics", {
        "process": serializers.IntegerField(help_text="Process id of the web process that answered"),
        "rules": serializers.IntegerField(help_text="Rules in this process's routing index"),
        "rulesByType": _counts("RuleCounts", ["ANUMBER", "CUSTOMER", "DKCPS", "PREFIX"], "Rules in the index, by type"),
        "peers": serializers.IntegerField(),
        "unusablePeers": serializers.ListField(child=serializers.CharField(), help_text="Peers down or without a usable host"),
        "defaultPeer": serializers.CharField(allow_null=True),
        "indexRebuilds": serializers.IntegerField(help_text="Times this process rebuilt its index since it started"),
        "indexAgeSeconds": serializers.FloatField(allow_null=True, help_text="Seconds since the index was built"),
        "decisions": _counts("DecisionCounts", REASONS, "Route look-ups answered by every web process of this node, by reason"),
    })


class MetricsView(APIView):
    permission_classes = [Access.METRICS]

    @documented(
        summary="Delivery and routing counters (ADMIN)", responses=MetricsSerializer,
        description="Delivery counters (from the database, all processes), routing decisions (every web process of the node "
        "that answered) and the answering process's routing index. "
        "Who: ADMIN.",
        response_example={
            "deliveries": {"byState": {"PENDING": 3, "DELIVERED": 1520, "FAILED": 4},
                           "finishedLastHour": {"DELIVERED": 310, "FAILED": 1}, "overduePending": 0, "heldPending": 2},
            "routing": {"process": 4127, "rules": 1204, "rulesByType": {"ANUMBER": 10, "CUSTOMER": 4, "DKCPS": 30, "PREFIX": 1160},
                        "peers": 6, "unusablePeers": [], "defaultPeer": "TDC", "indexRebuilds": 12, "indexAgeSeconds": 81.5,
                        "decisions": {"anumber": 40, "customer": 2, "dkcps": 803, "prefix": 5120, "default": 12,
                                      "no_route": 0, "no_usable_peer": 1, "unknown_source": 0}}},
        errors=[DENIED],
    )
    def get(self, request: Request) -> Response:
        return Response({"deliveries": delivery_counters(), "routing": routing_counters()})
