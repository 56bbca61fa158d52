"""SBC rules, peers, peer hosts and the route look-up (api.md §6-7, routing.md §4)."""

from __future__ import annotations

import ipaddress

from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import Access, rule_scope
from sbcrules.lookup import route_call
from sbcrules.models import Host, Peer, Rule
from sbcrules.serializers import HostStateSerializer, PeerSerializer, RuleSerializer, find_peer_id
from sbcrules.validators import is_peer_id
from telecomx.api import ReadWritePermissions, ReadWriteViewSet
from telecomx.errors import ApiError
from telecomx.ids import normalize_id
from telecomx.messages import message_of


@extend_schema_view(
    list=extend_schema(summary="List SBC rules", parameters=[OpenApiParameter("type", str, description="only this type")]),
    create=extend_schema(summary="Create an SBC rule"),
    retrieve=extend_schema(summary="Get an SBC rule"),
    partial_update=extend_schema(summary="Update an SBC rule (PATCH)"),
    destroy=extend_schema(summary="Delete an SBC rule"),
)
class RuleViewSet(ReadWriteViewSet):
    serializer_class = RuleSerializer
    not_found = (404, "id", "Rule not found")
    read_permission = Access.SBC_RULE_READ
    write_permission = Access.SBC_RULE_WRITE

    def get_queryset(self) -> QuerySet[Rule]:
        rules = Rule.objects.order_by("id")
        scope = rule_scope(self.request.user)
        if scope is not None:
            rules = rules.filter(scope)
        wanted = self.request.query_params.get("type")
        if self.action == "list" and wanted:
            if wanted not in Rule.Type.values:
                raise ApiError(422, "type", message_of(Rule._meta.get_field("type")) or "", path="type")
            rules = rules.filter(type=wanted)
        return rules

    def normalize_lookup(self, value: str) -> str | None:
        return normalize_id(value)


@extend_schema_view(
    list=extend_schema(summary="List SBC peers"),
    create=extend_schema(summary="Create an SBC peer"),
    retrieve=extend_schema(summary="Get an SBC peer"),
    partial_update=extend_schema(summary="Update an SBC peer (PATCH)"),
    destroy=extend_schema(summary="Delete an SBC peer (409 while rules or peers point to it)"),
)
class PeerViewSet(ReadWriteViewSet):
    serializer_class = PeerSerializer
    not_found = (404, "id", "Peer not found")
    in_use = (409, "peer", "Peer is in use")
    read_permission = Access.SBC_PEER_READ
    write_permission = Access.SBC_PEER_WRITE

    def get_queryset(self) -> QuerySet[Peer]:
        return Peer.objects.prefetch_related("hosts").order_by("id")

    def normalize_lookup(self, value: str) -> str | None:
        return find_peer_id(value) if is_peer_id(value) else None


def _host_of(peer_id: str, host_ip: str) -> Host:
    key = find_peer_id(peer_id) if is_peer_id(peer_id) else None
    if key is None:
        raise ApiError(*PeerViewSet.not_found)
    try:
        address = str(ipaddress.ip_address(host_ip))
    except ValueError:
        address = None
    host = Host.objects.filter(peer_id=key, address=address).first() if address else None
    if host is None:
        raise ApiError(404, "host", "Host not found")
    return host


class PeerHostView(ReadWritePermissions, APIView):
    """`GET|POST /api/sbc/peer/<PEER_ID>/host/<HOST_IP>`: one host's `{"down": bool}`."""

    read_permission = Access.SBC_PEER_READ
    write_permission = Access.SBC_PEER_WRITE

    @extend_schema(summary="Get a peer host's state", responses=HostStateSerializer)
    def get(self, request: Request, peer_id: str, host_ip: str) -> Response:
        host = _host_of(peer_id, host_ip)
        return Response({"host": host.address, "down": host.down})

    @extend_schema(summary="Mark a peer host down or up", request=HostStateSerializer, responses=HostStateSerializer)
    def post(self, request: Request, peer_id: str, host_ip: str) -> Response:
        host = _host_of(peer_id, host_ip)
        serializer = HostStateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            host.down = serializer.validated_data["down"]
            host.save(update_fields=["down"])
        return Response({"host": host.address, "down": host.down})


class RouteView(APIView):
    """`GET /api/sbc/route`: the routing decision for a call, answered from memory."""

    permission_classes = [Access.ROUTE_LOOKUP]

    @extend_schema(
        summary="Route look-up: which peer a call leaves through, and why",
        parameters=[
            OpenApiParameter("bnumber", str, required=True, description="destination, E.164"),
            OpenApiParameter("anumber", str, description="caller, E.164"),
            OpenApiParameter("customer", str, description="calling customer's id"),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        decision = route_call(bnumber=params.get("bnumber"), anumber=params.get("anumber"), customer=params.get("customer"))
        return Response(decision.as_dict())
