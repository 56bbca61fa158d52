"""SBC rules, peers, peer hosts and the route look-up (docs/api.md §6-7, docs/api.md §9)."""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils.http import parse_etags
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Customer
from accounts.permissions import (Access, may_route_customer, reachable_customer, route_reach, route_reach_without_query,
                                  rule_scope, rule_scope_fingerprint)
from core import outage
from core.api import BAD_PAGE, ReadWritePermissions, SwitchView, ReadWriteViewSet, ResourceViewSet, paged_list_schema
from core.docs import EXAMPLE_CUSTOMER, PAGING, UPDATE, conflict, documented, errors_of, field_errors
from core.errors import DENIED, MULTIPLE, ApiError, Error
from core.ids import normalize_id
from core.messages import message_of
from core.parsers import BAD_JSON
from core.renderers import rendered
from core.serializers import NOT_OBJECT
from sbcrules.index import read_stamp
from sbcrules.lookup import CUSTOMER_INVALID, NUMBER_INVALID, route_call
from sbcrules.models import Host, Peer, Rule, Trunk
from sbcrules.trunks import SOURCE_INVALID, SOURCE_TAKEN, SourceTaken, delete_trunk, save_trunk
from sbcrules.serializers import (HOST_INVALID, HOST_PORT_INVALID, HOST_STATE_INVALID, HOST_TRANSPORT_INVALID, HOST_TWICE,
                                  HostStateSerializer, PeerSerializer, RouteAnswerSerializer, RuleSerializer, TrunkSerializer,
                                  find_peer_id, route_answer)
from sbcrules.validators import PREFIX_INVALID, is_peer_id

# docs/api.md §1: lists a switch polls carry an ETag and answer 304 to a matching If-None-Match.
ETAG_PARAMETERS = [
    OpenApiParameter(
        "If-None-Match", str, OpenApiParameter.HEADER,
        description="the ETag of a list held: 304 with no body while routing data has not changed",
    ),
]
ETAG_DESCRIPTION = "Carries an `ETag` that changes whenever rules, peers or hosts change; send it back in `If-None-Match` to get 304 and no body while nothing changed."
ETAG_RESPONSES = {304: OpenApiResponse(description="Not modified: the list is the one whose ETag was sent")}

# --- what the schema tells clients (core.docs) ---
ETAG = ("The answer carries an `ETag` that changes whenever rules, peers or hosts change; send it back in "
        "`If-None-Match` to get 304 and no body while nothing changed. ")
ROUTE_READ = "Who: RESELLER_ADMIN whose customer has the TELE feature, ADMIN."
RULE_WRITE = ("Who: RESELLER_ADMIN whose customer has the FINANCE feature, or ADMIN, for every rule type; a CUSTOMER "
              "rule only for a customer the caller reaches (any other is 422 `condition` \"Customer not found\").")
RULE = {"_id": "6b043a1e8c2f4d0012ab34cd", "type": "PREFIX", "condition": "+4570", "peer": "TDC", "note": "Danish service numbers"}
PEER = {"_id": "TDC", "name": "TDC A/S", "default": False,
        "hosts": [{"host": "192.0.2.10", "state": "up", "port": 5060, "transport": "udp"}],
        "failoverPeerId": "TELENOR", "networkInterface": "ETH0", "up": True}
NO_RULE: Error = (404, "id", "Rule not found")
NO_PEER: Error = (404, "id", "Peer not found")
NO_HOST: Error = (404, "host", "Host not found")
NOT_A_PEER_ID: Error = (400, "bad_request", "peer must be a peer id")
RULE_FIELDS = [
    *field_errors(RuleSerializer, "type", "condition"), *errors_of(422, "condition", PREFIX_INVALID, Rule.NO_CUSTOMER, Rule.NO_OPERATOR),
    *field_errors(RuleSerializer, "peer", "note"), MULTIPLE,
    (404, "peer", str(Rule._meta.get_field("peer").error_messages["invalid"])), conflict(Rule, "sbcrules_rule_unique"),
]
PEER_FIELDS = [
    *field_errors(PeerSerializer, "_id", "name", "default", "hosts"), *errors_of(422, "hosts", HOST_INVALID, HOST_TWICE, HOST_STATE_INVALID,
                                                                       HOST_PORT_INVALID, HOST_TRANSPORT_INVALID),
    *field_errors(PeerSerializer, "failoverPeerId"),
    (422, "failoverPeerId", str(Peer._meta.get_field("failover_peer").error_messages["invalid"])),
    *field_errors(PeerSerializer, "networkInterface", "up"), MULTIPLE,
    conflict(Peer, "sbcrules_peer_id_ci_unique"), conflict(Peer, "sbcrules_one_default_peer"),
]


def none_match(header: str, etag: str) -> bool:
    """Does If-None-Match `header` match `etag`? RFC 9110 §13.1.2: `*`, or any tag of the list by
    weak comparison (`W/"x"` matches `"x"`)."""
    tags = parse_etags(header)
    if "*" in tags:
        return True
    return etag.removeprefix("W/") in {tag.removeprefix("W/") for tag in tags}


class RoutingListETag(ResourceViewSet):
    """The list carries an ETag (docs/api.md §1) for switches that poll it."""

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """304 with no body when `If-None-Match` names the list's current ETag.

        The ETag is the routing marker's stamp (it changes in the same transaction as any rule,
        peer or host) with the path, the query string and the caller's scope: whatever else
        makes the body differ. The stamp is read before the list, so a change committed in
        between gives a newer body under the older tag, never an older body under a newer one.
        """
        scope = (f"{request.path}?{request.META.get('QUERY_STRING', '')}|{request.user.access_level}|{request.user.customer_id}"
                 f"|{self.etag_reach(request)}")
        etag = f'"{read_stamp():x}-{hashlib.sha256(scope.encode()).hexdigest()[:16]}"'
        if none_match(request.headers.get("If-None-Match", ""), etag):
            return Response(status=304, headers={"ETag": etag})
        response = super().list(request, *args, **kwargs)
        response["ETag"] = etag
        return response

    def etag_reach(self, request: Request) -> str:
        """What else the body depends on beyond routing data (a reseller's customers: rules)."""
        return ""


@extend_schema_view(
    list=paged_list_schema(
        "List SBC rules",
        [OpenApiParameter("type", str, enum=Rule.Type.values, description="Only rules of this type"),
         OpenApiParameter("peer", str, description="Only rules sending calls to this peer (its id, any case)"),
         *ETAG_PARAMETERS],
        responses={200: RuleSerializer(many=True), **ETAG_RESPONSES},
        description=f"The SBC rules, by id; `type` and `peer` narrow the list. {ETAG}{PAGING} Who: ADMIN (every rule); "
        "RESELLER_ADMIN (every rule but the CUSTOMER rules of customers it does not reach).",
        response_example=[RULE], errors=[DENIED, BAD_PAGE, *field_errors(RuleSerializer, "type"), NOT_A_PEER_ID],
    ),
    create=documented(
        summary="Create an SBC rule",
        description=f"Add a rule: calls matching `condition` (as its `type` reads it) leave through `peer`. {RULE_WRITE}",
        response_example=RULE, request_example={"type": "PREFIX", "condition": "+4570", "peer": "tdc", "note": "Danish service numbers"},
        errors=[*RULE_FIELDS, DENIED, BAD_JSON, NOT_OBJECT],
    ),
    retrieve=documented(summary="Get an SBC rule", description="One rule. Who: RESELLER_ADMIN, ADMIN.", response_example=RULE,
                        errors=[NO_RULE, DENIED]),
    update_by_post=documented(
        description=f"Update a rule (its type cannot change). {UPDATE} {RULE_WRITE}", response_example={**RULE, "peer": "TELENOR"},
        request_example={"peer": "TELENOR"}, errors=[*RULE_FIELDS, NO_RULE, DENIED, BAD_JSON, NOT_OBJECT],
    ),
    partial_update=documented(
        summary="Update an SBC rule (PATCH)",
        description=f"Update a rule (its type cannot change). {UPDATE} {RULE_WRITE}", response_example={**RULE, "note": ""},
        request_example={"note": None}, errors=[*RULE_FIELDS, NO_RULE, DENIED, BAD_JSON, NOT_OBJECT],
    ),
    destroy=documented(summary="Delete an SBC rule", description=f"Delete a rule. {RULE_WRITE}", response_example={"success": True},
                       errors=[NO_RULE, DENIED]),
)
class RuleViewSet(RoutingListETag, ReadWriteViewSet):
    serializer_class = RuleSerializer
    not_found = NO_RULE
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
                raise ApiError(*NOT_A_PEER_ID, path="peer")
            rules = rules.filter(peer_id=find_peer_id(peer))
        return rules

    def normalize_lookup(self, value: str) -> str | None:
        return normalize_id(value)

    def etag_reach(self, request: Request) -> str:
        """A reseller sees the CUSTOMER rules of the customers it reaches: the tag follows that set."""
        return rule_scope_fingerprint(request.user)

    def get_serializer_context(self) -> dict[str, Any]:
        user = getattr(self.request, "user", None)
        return {**super().get_serializer_context(), "may_name_customer": lambda customer: may_route_customer(user, customer)}


PEER_UPDATE = (f"Update a peer. {UPDATE} `hosts`, when sent, replaces the whole list (a host sent without `state` keeps "
               "its own). Who: ADMIN.")
PEER_IN_USE: Error = (409, "peer", "Peer is in use")


@extend_schema_view(
    list=paged_list_schema("List SBC peers", ETAG_PARAMETERS, responses={200: PeerSerializer(many=True), **ETAG_RESPONSES},
                           description=f"The SBC peers (carrier trunks), by id. {ETAG}{PAGING} {ROUTE_READ}",
                           response_example=[PEER], errors=[DENIED, BAD_PAGE]),
    create=documented(
        summary="Create an SBC peer",
        description="Add a peer. `_id` (1..32 of `A-Z a-z 0-9 _ -`, unique ignoring case) is its name in rules and never "
        "changes. At most one peer is the default. Who: ADMIN.",
        response_example=PEER,
        request_example={"_id": "TDC", "name": "TDC A/S", "hosts": [{"host": "192.0.2.10", "port": 5060, "transport": "udp"}],
                         "failoverPeerId": "TELENOR", "networkInterface": "ETH0"},
        errors=[*PEER_FIELDS, DENIED, BAD_JSON, NOT_OBJECT],
    ),
    retrieve=documented(summary="Get an SBC peer", description=f"One peer (its id in any case). {ROUTE_READ}",
                        response_example=PEER, errors=[NO_PEER, DENIED]),
    update_by_post=documented(description=PEER_UPDATE, response_example={**PEER, "up": False}, request_example={"up": False},
                              errors=[*PEER_FIELDS, NO_PEER, DENIED, BAD_JSON, NOT_OBJECT]),
    partial_update=documented(
        summary="Update an SBC peer (PATCH)", description=PEER_UPDATE,
        response_example={**PEER, "hosts": [{"host": "192.0.2.10", "state": "down", "port": 5060, "transport": "udp"}]},
        request_example={"hosts": [{"host": "192.0.2.10", "state": "down"}]},
        errors=[*PEER_FIELDS, NO_PEER, DENIED, BAD_JSON, NOT_OBJECT],
    ),
    destroy=documented(summary="Delete an SBC peer (409 while rules or peers point to it)",
                       description="Delete a peer no rule or peer points to. Who: ADMIN.", response_example={"success": True},
                       errors=[NO_PEER, PEER_IN_USE, DENIED]),
)
class PeerViewSet(RoutingListETag, ReadWriteViewSet):
    serializer_class = PeerSerializer
    not_found = NO_PEER
    in_use = PEER_IN_USE
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
        raise ApiError(*NO_HOST)
    return host


class PeerHostView(ReadWritePermissions, APIView):
    """`GET|POST /api/sbc/peer/<PEER_ID>/host/<HOST_IP>`: one host's `{"down": bool}`."""

    read_permission = Access.SBC_PEER_READ
    write_permission = Access.SBC_PEER_WRITE

    @documented(summary="Get a peer host's state", responses=HostStateSerializer,
                description=f"Whether one host of a peer is marked down. {ROUTE_READ}",
                response_example={"host": "192.0.2.10", "down": False}, errors=[NO_PEER, NO_HOST, DENIED])
    def get(self, request: Request, peer_id: str, host_ip: str) -> Response:
        host = _host_of(peer_id, host_ip)
        return Response({"host": host.address, "down": host.down})

    @documented(
        summary="Mark a peer host down or up", request=HostStateSerializer, responses=HostStateSerializer,
        description="Mark one host of a peer down or up; routing follows within a second. Who: ADMIN.",
        response_example={"host": "192.0.2.10", "down": True}, request_example={"down": True},
        errors=[NO_PEER, NO_HOST, (422, "down", message_of(Host._meta.get_field("down")) or ""), DENIED, BAD_JSON],
    )
    def post(self, request: Request, peer_id: str, host_ip: str) -> Response:
        host = _host_of(peer_id, host_ip)
        serializer = HostStateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            host.down = serializer.validated_data["down"]
            host.save(update_fields=["down"])
        return Response({"host": host.address, "down": host.down})


# --- trunks (docs/api.md §9.1) ---
TRUNK = {"_id": "6b0442c4d5e6f7a8b9c0d1e2", "customer": EXAMPLE_CUSTOMER, "name": "Hansen PBX",
         "sources": ["203.0.113.7", "198.51.100.0/28"], "maxCalls": 30, "callsPerSecond": 5, "trustCustomerHeader": False,
         "state": "ACTIVE"}
TRUNK_WHO = ("Who: ADMIN; a RESELLER_ADMIN whose customer has the TELE feature, for customers below its own. A customer "
             "the caller cannot reach answers 404 `customer`, as an unknown one does.")
NO_CUSTOMER: Error = (404, "customer", "Customer not found")
NO_TRUNK: Error = (404, "id", "Trunk not found")
TRUNK_FIELDS = [*field_errors(TrunkSerializer, "name", "sources", "maxCalls", "callsPerSecond", "trustCustomerHeader", "state"),
                MULTIPLE, (409, "sources", SOURCE_TAKEN)]
TRUNK_UPDATE = f"Update a trunk. {UPDATE} `sources`, when sent, replaces the whole list. {TRUNK_WHO}"



def reach_or_unknown(employee: Any, customer: str | None) -> bool:
    """route_reach; while the database is away, a customer whose reach needs a query counts as out
    of reach (the look-up goes on to the next step of the precedence, as for an unknown id)."""
    if outage.database.is_open():
        if route_reach_without_query(employee, customer):
            return True
        outage.mark_degraded("database")
        return False
    try:
        return route_reach(employee, customer)
    except Exception as exc:
        if not outage.is_database_unreachable(exc):
            raise
        outage.database.trip()
        outage.mark_degraded("database")
        return False


class RouteView(SwitchView, APIView):
    """`GET /api/sbc/route`: the routing decision for a call, answered from memory."""

    permission_classes = [Access.ROUTE_LOOKUP]
    service_view = True  # API_RATE_SERVICE for switches (core/throttling.py)
    works_without_database = True  # answered from memory while the database is away (core/outage.py)

    @documented(
        description="The routing decision for an outbound call, answered from memory: the first of ANUMBER (the caller), "
        "CUSTOMER (the calling customer), DKCPS (the operator serving the destination), the longest PREFIX, and the "
        "default peer that matches; an unusable peer (down, or every host down) hands over to its failover peer. "
        "With `source` (the address the call came from) the trunk holding that address decides whose call it is: the "
        "answer adds `customer` and `trunk`, and `customer` counts only for a trusted trunk (`trustCustomerHeader`), for "
        "customers its customer reaches; an address no active trunk holds (or a trunk of a customer the caller does not "
        "reach) answers `reason: unknown_source`, and a switch refuses the call. "
        f"{ROUTE_READ} Also service accounts with the `sbcrules.lookup_route` permission (the switches).",
        response_example={"peer": "TDC", "rule": {"_id": RULE["_id"], "type": "PREFIX", "condition": "+4570"}, "reason": "prefix",
                          "operator": "01011", "chain": ["TELENOR", "TDC"],
                          "targets": [{"peer": "TDC", "host": "192.0.2.10", "port": 5060, "transport": "udp"},
                                      {"peer": "TDC", "host": "2001:db8::10", "port": 5061, "transport": "tls"}]},
        errors=[(422, "bnumber", NUMBER_INVALID), (422, "anumber", NUMBER_INVALID), (422, "customer", CUSTOMER_INVALID),
                (422, "source", SOURCE_INVALID), MULTIPLE, DENIED],
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
        examples=[OpenApiExample("Asked with source", response_only=True, value={
            "peer": "TDC", "rule": {"_id": RULE["_id"], "type": "PREFIX", "condition": "+4570"}, "reason": "prefix",
            "operator": "01011", "chain": ["TDC"], "targets": [{"peer": "TDC", "host": "192.0.2.10", "port": 5060, "transport": "udp"}],
            "customer": EXAMPLE_CUSTOMER, "trunk": {"_id": TRUNK["_id"], "maxCalls": 30, "callsPerSecond": 5}}),
            OpenApiExample("A stranger", response_only=True, value={
                "peer": None, "rule": None, "reason": "unknown_source", "chain": [], "targets": []})],
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        customer, source = params.get("customer"), params.get("source")
        if source is None and not reach_or_unknown(request.user, customer):
            customer = None  # out of the caller's reach: routed as an unknown customer id is
        decision = route_call(
            bnumber=params.get("bnumber"), anumber=params.get("anumber"), customer=customer, source=source,
            reaches=lambda trunk_customer: reach_or_unknown(request.user, trunk_customer),
        )
        return rendered(self, request, route_answer(decision))


@extend_schema_view(
    list=paged_list_schema(
        "List the customer's trunks",
        description=f"The customer's trunks: where its calls come from (`sources`) and its limits there, oldest first. "
        f"{PAGING} {TRUNK_WHO}",
        response_example=[TRUNK], errors=[NO_CUSTOMER, DENIED, BAD_PAGE],
    ),
    create=documented(
        summary="Create a trunk",
        description="Add a trunk: calls the switch receives from any of its `sources` (1..100 IPv4/IPv6 addresses or CIDR "
        "blocks) are the customer's, within `maxCalls` calls at once and `callsPerSecond` new calls per second (null or "
        "absent: no limit). No address may be in two trunks' sources (409, also when two requests race). "
        "`trustCustomerHeader`: a border element whose X-Customer header names the customer of each call, among the "
        f"customers this one reaches. {TRUNK_WHO}",
        response_example=TRUNK,
        request_example={"name": "Hansen PBX", "sources": ["203.0.113.7", "198.51.100.0/28"], "maxCalls": 30, "callsPerSecond": 5},
        errors=[*TRUNK_FIELDS, NO_CUSTOMER, DENIED, BAD_JSON, NOT_OBJECT],
    ),
    retrieve=documented(summary="Get a trunk", description=f"One trunk. {TRUNK_WHO}", response_example=TRUNK,
                        errors=[NO_TRUNK, NO_CUSTOMER, DENIED]),
    update_by_post=documented(description=TRUNK_UPDATE, response_example={**TRUNK, "maxCalls": 60}, request_example={"maxCalls": 60},
                              errors=[*TRUNK_FIELDS, NO_TRUNK, NO_CUSTOMER, DENIED, BAD_JSON, NOT_OBJECT]),
    partial_update=documented(
        summary="Update a trunk (PATCH)", description=TRUNK_UPDATE, response_example={**TRUNK, "state": "DISABLED"},
        request_example={"state": "DISABLED"}, errors=[*TRUNK_FIELDS, NO_TRUNK, NO_CUSTOMER, DENIED, BAD_JSON, NOT_OBJECT],
    ),
    destroy=documented(summary="Delete a trunk", description=f"Delete a trunk: its sources are strangers to the switch again. "
                       f"{TRUNK_WHO}", response_example={"success": True}, errors=[NO_TRUNK, NO_CUSTOMER, DENIED]),
)
class TrunkViewSet(ResourceViewSet):
    """A customer's trunks: where its calls come from, and its limits there."""

    serializer_class = TrunkSerializer
    not_found = NO_TRUNK
    permission_classes = [Access.TRUNK]
    customer: Customer

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        customer = reachable_customer(request.user, kwargs["customer_id"])
        if customer is None:
            raise ApiError(*NO_CUSTOMER)
        self.check_object_permissions(request, customer)
        self.customer = customer

    def get_queryset(self) -> QuerySet[Trunk]:
        return Trunk.objects.filter(customer=self.customer).order_by("id")

    def normalize_lookup(self, value: str) -> str | None:
        return normalize_id(value)

    def serializer_context_defaults(self) -> dict[str, Any]:
        return {"customer": self.customer} if hasattr(self, "customer") else {}

    def perform_save(self, serializer: Any) -> None:
        """Claim the sources under the trunks' lock (sbcrules.trunks): a source another trunk holds is 409."""
        trunk = serializer.instance if serializer.instance is not None else Trunk(customer=self.customer)
        for name, value in serializer.validated_data.items():
            setattr(trunk, name, value)
        changed = [*serializer.validated_data, "updated_at"] if serializer.instance is not None else None
        try:
            save_trunk(trunk, update_fields=changed)
        except SourceTaken:
            raise ApiError(409, "sources", SOURCE_TAKEN, path="sources") from None
        serializer.instance = trunk

    perform_create = perform_update = perform_save

    def perform_destroy(self, instance: Any) -> None:
        delete_trunk(instance)
