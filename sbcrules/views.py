"""SBC rules, peers, peer hosts and the route look-up (docs/api.md §6-7, docs/api.md §9)."""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils.http import parse_etags
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Customer
from accounts.permissions import Access, route_reach, rule_scope, trunk_customer_for
from core.api import ReadWritePermissions, ReadWriteViewSet, ResourceViewSet, paged_list_schema
from core.errors import ApiError
from core.ids import normalize_id
from core.messages import message_of
from sbcrules.index import read_stamp
from sbcrules.lookup import route_call
from sbcrules.models import Host, Peer, Rule, Trunk
from sbcrules.serializers import (HostStateSerializer, PeerSerializer, RouteAnswerSerializer, RuleSerializer, TrunkSerializer,
                                  find_peer_id)
from sbcrules.trunks import SOURCE_TAKEN, SourceTaken, delete_trunk, save_trunk
from sbcrules.validators import is_peer_id

# docs/api.md §1: lists a switch polls carry an ETag and answer 304 to a matching If-None-Match.
ETAG_PARAMETERS = [
    OpenApiParameter(
        "If-None-Match", str, OpenApiParameter.HEADER,
        description="the ETag of a list held: 304 with no body while routing data has not changed",
    ),
]
ETAG_DESCRIPTION = "Carries an `ETag` that changes whenever rules, peers or hosts change; send it back in `If-None-Match` to get 304 and no body while nothing changed."
ETAG_RESPONSES = {304: OpenApiResponse(description="Not modified: the list is the one whose ETag was sent")}


class RoutingListETag(ResourceViewSet):
    """The list carries an ETag (docs/api.md §1) for switches that poll it."""

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """304 with no body when `If-None-Match` names the list's current ETag.

        The ETag is the routing marker's stamp (it changes in the same transaction as any rule,
        peer or host) with the path, the query string and the caller's scope: whatever else
        makes the body differ. The stamp is read before the list, so a change committed in
        between gives a newer body under the older tag, never an older body under a newer one.
        """
        scope = f"{request.path}?{request.META.get('QUERY_STRING', '')}|{request.user.access_level}|{request.user.customer_id}"
        etag = f'"{read_stamp():x}-{hashlib.sha256(scope.encode()).hexdigest()[:16]}"'
        wanted = parse_etags(request.headers.get("If-None-Match", ""))
        if etag in wanted or "*" in wanted:
            return Response(status=304, headers={"ETag": etag})
        response = super().list(request, *args, **kwargs)
        response["ETag"] = etag
        return response


@extend_schema_view(
    list=paged_list_schema(
        "List SBC rules",
        [OpenApiParameter("type", str, enum=Rule.Type.values, description="Only rules of this type"),
         OpenApiParameter("peer", str, description="Only rules sending calls to this peer (its id, any case)"),
         *ETAG_PARAMETERS],
        responses={200: RuleSerializer(many=True), **ETAG_RESPONSES},
    ),
    create=extend_schema(summary="Create an SBC rule"),
    retrieve=extend_schema(summary="Get an SBC rule"),
    partial_update=extend_schema(summary="Update an SBC rule (PATCH)"),
    destroy=extend_schema(summary="Delete an SBC rule"),
)
class RuleViewSet(RoutingListETag, ReadWriteViewSet):
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
        peer = self.request.query_params.get("peer")
        if self.action == "list" and peer:
            # An unknown peer simply has no rules; a malformed one is a bad query value.
            if not is_peer_id(peer):
                raise ApiError(400, "bad_request", "peer must be a peer id", path="peer")
            rules = rules.filter(peer_id=find_peer_id(peer))
        return rules

    def normalize_lookup(self, value: str) -> str | None:
        return normalize_id(value)


@extend_schema_view(
    list=paged_list_schema("List SBC peers", ETAG_PARAMETERS, responses={200: PeerSerializer(many=True), **ETAG_RESPONSES}),
    create=extend_schema(summary="Create an SBC peer"),
    retrieve=extend_schema(summary="Get an SBC peer"),
    partial_update=extend_schema(summary="Update an SBC peer (PATCH)"),
    destroy=extend_schema(summary="Delete an SBC peer (409 while rules or peers point to it)"),
)
class PeerViewSet(RoutingListETag, ReadWriteViewSet):
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
    service_view = True  # API_RATE_SERVICE for switches (core/throttling.py)
    api_key_access = True  # service accounts' API keys reach this (accounts/authentication.py)

    @extend_schema(
        summary="Route look-up: which peer a call leaves through, and why",
        parameters=[
            OpenApiParameter("bnumber", str, required=True, description="destination, E.164"),
            OpenApiParameter("anumber", str, description="caller, E.164"),
            OpenApiParameter("source", str, description="the address the call came from (IPv4 or IPv6): the trunk holding "
                             "it decides whose call it is; none holds it: `unknown_source`"),
            OpenApiParameter("customer", str, description="calling customer's id; with `source`, honoured only for a trunk "
                             "with `trustCustomerHeader`, for customers its customer reaches"),
        ],
        responses=RouteAnswerSerializer,
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        customer, source = params.get("customer"), params.get("source")
        if source is None and not route_reach(request.user, customer):
            customer = None  # out of the caller's reach: routed as an unknown customer id is
        decision = route_call(
            bnumber=params.get("bnumber"), anumber=params.get("anumber"), customer=customer, source=source,
            reaches=lambda trunk_customer: route_reach(request.user, trunk_customer),
        )
        return Response(decision.as_dict())


@extend_schema_view(
    list=paged_list_schema("List the customer's trunks"),
    create=extend_schema(summary="Create a trunk"),
    retrieve=extend_schema(summary="Get a trunk"),
    partial_update=extend_schema(summary="Update a trunk (PATCH)"),
    destroy=extend_schema(summary="Delete a trunk"),
)
class TrunkViewSet(ResourceViewSet):
    """A customer's trunks: where its calls come from, and its limits there."""

    serializer_class = TrunkSerializer
    not_found = (404, "id", "Trunk not found")
    permission_classes = [Access.TRUNK]
    customer: Customer

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.customer = trunk_customer_for(request.user, kwargs["customer_id"])

    def get_queryset(self) -> QuerySet[Trunk]:
        return Trunk.objects.filter(customer=self.customer).order_by("id")

    def normalize_lookup(self, value: str) -> str | None:
        return normalize_id(value)

    def serializer_context_defaults(self) -> dict[str, Any]:
        return {"customer": self.customer} if hasattr(self, "customer") else {}

    def perform_save(self, serializer: Any) -> None:
        changed = [name for name in serializer.validated_data]
        trunk = serializer.instance if serializer.instance is not None else Trunk(customer=self.customer)
        for name, value in serializer.validated_data.items():
            setattr(trunk, name, value)
        try:
            save_trunk(trunk, update_fields=[*changed, "updated_at"] if serializer.instance is not None else None)
        except SourceTaken:
            raise ApiError(409, "sources", SOURCE_TAKEN, path="sources") from None
        serializer.instance = trunk

    def perform_destroy(self, instance: Any) -> None:
        delete_trunk(instance)
