"""Call notify items of one customer (docs/api.md §5), call event ingestion (docs/callevents.md §1),
the delivery log and test of one endpoint (docs/callevents.md §5), replay and recovery, and the
customer's call events (docs/callevents.md §5a).

- `POST …/callnotify/<ID>/deliveries/<DELIVERY_ID>/retry`: one FAILED delivery starts a new round now.
- `POST …/callnotify/<ID>/recover` `{"since": …}`: every FAILED delivery of the endpoint created since then.
- `GET /api/customer/<ID>/callevent`: the customer's call events, newest first, paged, by callId and time.

Retry and recover need MANAGER or above for a customer in reach, count against API_RATE_REPLAY
per employee, and go through the engine's one "retry now" transition (delivery.retry_now); the new
attempts are added to the delivery's attempt log next to the earlier ones.
"""

from __future__ import annotations

import logging
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import (OpenApiExample, OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer,
                                   extend_schema_serializer, extend_schema_view)
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle

from accounts.models import Customer
from accounts.permissions import Access, reachable_customer
from callnotify import ingest
from callnotify.delivery import retry_now, send_test_event
from callnotify.models import SECRET_NOT_SIGNABLE, TOO_MANY, CallEvent, CallNotify, Delivery, add_within_limit
from callnotify.serializers import (CUSTOMER_NOT_FOUND, CallEventAcceptedSerializer, CallEventSerializer,
                                    CallNotifySerializer, DeliveryPageSerializer, DeliverySerializer, TestResultSerializer,
                                    accepted)
from callnotify.testsend import sending_slot
from callnotify.validators import URL_MESSAGES
from core.api import BAD_CURSOR, BAD_PAGE, KeysetPage, ResourceViewSet, SwitchView, paged_list_schema
from core.docs import EXAMPLE_CUSTOMER, PAGING, UPDATE, documented, errors_of, field_errors
from core.errors import DENIED, MULTIPLE, ApiError, Error, error_body, validation_body
from core.ids import normalize_id
from core.parsers import BAD_JSON
from core.renderers import rendered
from core.serializers import NOT_OBJECT

NO_CUSTOMER: Error = (404, "customer", "Customer not found")

# --- what the schema tells clients (core.docs) ---
ENDPOINT_ID = "6b0435fcdbc6a327465cc9cb"
EVENT_ID = "6b043b02d1e5a70019cc0a11"
NO_ENDPOINT: Error = (404, "not_found", "Call notify not found")
TOO_MANY_ENDPOINTS: Error = (422, "limit", TOO_MANY)
CURSOR_PARAMETER = OpenApiParameter(
    "cursor", str, description='start after the page that gave it: the value in that page\'s `Link: <…>; rel="next"` '
    "header (a deep page then costs what the first one does; `offset` counts from the cursor)")
ENDPOINT_FIELDS = [*errors_of(422, "url", *URL_MESSAGES), *field_errors(CallNotifySerializer, "method", "selection", "state", "secret"),
               (422, "secret", SECRET_NOT_SIGNABLE), MULTIPLE]
HEALTH = {"lastHour": {"delivered": 310, "failed": 2, "p50DurationMs": 40, "p95DurationMs": 160},
          "lastDay": {"delivered": 7020, "failed": 31, "p50DurationMs": 40, "p95DurationMs": 320},
          "lastSuccessAt": "2026-11-22T10:15:00Z", "lastFailureAt": "2026-11-22T09:02:11Z", "consecutiveFailures": 0,
          "failingSince": None, "disabledReason": None}
ENDPOINT = {"_id": ENDPOINT_ID, "customer": EXAMPLE_CUSTOMER, "url": "https://hooks.example.com/calls?key=abc", "method": "POSTJSON",
        "selection": "ALL", "state": "ACTIVE", "health": HEALTH}
WHO = ("Who: VIEWER, MANAGER or OWNER of the customer; RESELLER or RESELLER_ADMIN above it; ADMIN. "
       "A customer the caller cannot reach answers 404 `customer`, as an unknown one does.")
CALL_EVENT = {"callId": "a84b4c76e66710@192.0.2.4", "customer": EXAMPLE_CUSTOMER, "type": "SIP", "direction": "INBOUND",
              "state": "ANSWERED", "aNumber": "+4512345678", "bNumber": "+4570305050", "timestamp": "2026-11-22T10:15:00Z",
              "additional": {"sbcServer": "sbc1", "sourcePeer": "TDC"}}
DELIVERED = {"_id": "6b043b02d1e5a70019cc0a12", "event": EVENT_ID, "callId": "a84b4c76e66710@192.0.2.4",
             "eventState": "ANSWERED", "sequence": 2, "state": "DELIVERED", "attempts": 1, "lastStatus": 204,
             "createdAt": "2026-11-22T10:15:00Z", "finishedAt": "2026-11-22T10:15:00Z"}
WAITING = {"_id": "6b043b02d1e5a70019cc0a10", "event": "6b043b01d1e5a70019cc0a0f", "callId": "a84b4c76e66710@192.0.2.4",
           "eventState": "RINGING", "sequence": 1, "state": "PENDING", "attempts": 2, "lastError": "connection refused",
           "createdAt": "2026-11-22T10:14:51Z", "nextAttemptAt": "2026-11-22T10:15:31Z"}


class CustomerScopedMixin:
    """Resolves the URL's customer before anything else: 404 `customer` when it is not in reach,
    then the Access entry's decision on it (403), as docs/api.md §3 says."""

    permission_classes = [Access.CALL_NOTIFY]
    customer: Customer

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        customer = reachable_customer(request.user, kwargs["customer_id"])
        if customer is None:
            raise ApiError(*NO_CUSTOMER)
        self.check_object_permissions(request, customer)  # type: ignore[attr-defined]
        self.customer = customer


@extend_schema_view(
    list=paged_list_schema(
        "List the customer's call notify items",
        description=f"The customer's call notify items (endpoints told about its calls), oldest first. {PAGING} {WHO}",
        response_example=[ENDPOINT], errors=[NO_CUSTOMER, DENIED, BAD_PAGE],
    ),
    create=documented(
        summary="Create a call notify item",
        description="Register an endpoint for the customer's call events. `url`, `method` and `selection` are required. "
        "Send `\"secret\": \"generate\"` to have deliveries signed with a new secret: that answer shows it, once. "
        f"{WHO}",
        response_example={**ENDPOINT, "secret": "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="},
        request_example={"url": "https://hooks.example.com/calls?key=abc", "method": "POSTJSON", "selection": "ALL",
                         "secret": "generate"},
        errors=[*ENDPOINT_FIELDS, TOO_MANY_ENDPOINTS, NO_CUSTOMER, DENIED, BAD_JSON, NOT_OBJECT],
    ),
    update_by_post=documented(
        description=f"Update a call notify item. {UPDATE} {WHO}", response_example={**ENDPOINT, "selection": "SIP"},
        request_example={"selection": "SIP"}, errors=[*ENDPOINT_FIELDS, NO_ENDPOINT, NO_CUSTOMER, DENIED, BAD_JSON, NOT_OBJECT],
    ),
    retrieve=documented(
        description=f"One call notify item. {WHO}", response_example=ENDPOINT, errors=[NO_ENDPOINT, NO_CUSTOMER, DENIED],
        summary="Get a call notify item, with its delivery health", examples=[OpenApiExample(
        "An endpoint that recovered", response_only=True, value={
            "_id": "6740a1b2c3d4e5f6a7b8c9d1", "customer": "6740a1b2c3d4e5f6a7b8c9d0", "url": "https://hooks.example.com/calls",
            "method": "POSTJSON", "selection": "ALL", "state": "ACTIVE",
            "health": {"lastHour": {"delivered": 41, "failed": 2, "p50DurationMs": 50, "p95DurationMs": 250},
                       "lastDay": {"delivered": 980, "failed": 9, "p50DurationMs": 50, "p95DurationMs": 500},
                       "lastSuccessAt": "2026-11-23T12:41:07.120000Z", "lastFailureAt": "2026-11-23T12:39:55.004000Z",
                       "consecutiveFailures": 0, "failingSince": None, "disabledReason": None}})]),
    partial_update=documented(
        summary="Update a call notify item (PATCH)",
        description=f"Update a call notify item. {UPDATE} {WHO}", response_example={**ENDPOINT, "state": "DISABLED"},
        request_example={"state": "DISABLED"}, errors=[*ENDPOINT_FIELDS, NO_ENDPOINT, NO_CUSTOMER, DENIED, BAD_JSON, NOT_OBJECT],
    ),
    destroy=documented(
        summary="Delete a call notify item",
        description=f"Delete a call notify item and its delivery log. {WHO}", response_example={"success": True},
        errors=[NO_ENDPOINT, NO_CUSTOMER, DENIED],
    ),
)
class CallNotifyViewSet(CustomerScopedMixin, ResourceViewSet):
    serializer_class = CallNotifySerializer
    not_found = NO_ENDPOINT

    def get_queryset(self) -> QuerySet[CallNotify]:
        return CallNotify.objects.filter(customer=self.customer).order_by("id")

    def normalize_lookup(self, value: str) -> str | None:
        return normalize_id(value)

    def serializer_context_defaults(self) -> dict[str, Any]:
        return {"customer": self.customer} if hasattr(self, "customer") else {}

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        item = CallNotify(**serializer.validated_data, **self.serializer_context_defaults())
        with self.documented_conflicts(serializer, atomic=False):  # one statement (add_within_limit)
            if not add_within_limit(item):
                raise ApiError(*TOO_MANY_ENDPOINTS)
        serializer.instance = serializer.context["made"] = item


class CallEventView(SwitchView, GenericAPIView):
    """A switch reports call state changes: one event (an object) or up to 1,000 (an array); answers 202."""

    permission_classes = [Access.CALL_EVENT_POST]
    serializer_class = CallEventSerializer
    switch_methods = ("POST",)
    service_view = True  # API_RATE_SERVICE for switches (core/throttling.py)

    @documented(
        description="A switch reports one state change of a call. The event and one delivery per matching active call "
        "notify item of the customer are stored before the answer; deliveries are then attempted at once and retried on "
        "schedule. Re-posting the same (customer, callId, state) answers the stored event and queues nothing. "
        "Who: a service account with the `callnotify.add_callevent` permission for the customers it can reach; ADMIN. "
        'A customer the caller cannot reach answers 422 `customer` "Customer not found".',
        response_example={"_id": EVENT_ID, "sequence": 2, "deliveries": 1}, request_example=CALL_EVENT,
        errors=[*field_errors(CallEventSerializer, "callId", "type", "direction", "state", "aNumber", "bNumber", "timestamp",
                              "duration", "cause", "additional", "customer"),
                (422, "customer", CUSTOMER_NOT_FOUND), MULTIPLE, DENIED, BAD_JSON, ingest.NOT_AN_EVENT],
        batch=ingest.MAX_BATCH,
        summary="Report a call event, or a batch of up to 1,000",
        request=PolymorphicProxySerializer(component_name="CallEventOrBatch", resource_type_field_name=None, many=False,
                                           serializers=[CallEventSerializer, CallEventSerializer(many=True)]),
        responses={202: OpenApiResponse(CallEventAcceptedSerializer,
                                        description="the stored event; for an array, an array of these or {error} items")},
    )
    def post(self, request: Request) -> Response:
        answer = ingest.ingest(request.data, poster=request.user)
        if isinstance(answer, list):
            return rendered(self, request, [accepted(item) if isinstance(item, ingest.Stored) else item for item in answer], 202)
        return rendered(self, request, accepted(answer), 202)


class EndpointView(CustomerScopedMixin, GenericAPIView):
    """Something under one call notify item of the URL's customer."""

    def get_endpoint(self) -> CallNotify:
        pk = normalize_id(self.kwargs["pk"])
        endpoint = CallNotify.objects.filter(customer=self.customer, pk=pk).first() if pk else None
        if endpoint is None:
            raise ApiError(*NO_ENDPOINT)
        return endpoint


BAD_STATE: Error = (400, "bad_request", f"state must be {', '.join(Delivery.State.values[:-1])} or {Delivery.State.values[-1]}")


class DeliveryListView(EndpointView):
    """The delivery log of one call notify item: newest first, paged, optionally one state."""

    serializer_class = DeliverySerializer

    @documented(
        description="The delivery log of one call notify item, newest first, paged (`offset`, `limit` 1..500), optionally "
        "only one `state`. Properties without a value yet (`lastStatus`, `lastError`, `nextAttemptAt`, `finishedAt`) are "
        f"left out. {WHO}",
        response_example={"offset": 0, "limit": 100, "total": 2, "deliveries": [DELIVERED, WAITING]},
        errors=[NO_ENDPOINT, NO_CUSTOMER, DENIED, BAD_PAGE, BAD_CURSOR, BAD_STATE],
        summary="Delivery log of a call notify item (newest first)",
        parameters=[OpenApiParameter("offset", int), OpenApiParameter("limit", int), CURSOR_PARAMETER,
                    OpenApiParameter("state", str, enum=Delivery.State.values)],
        responses={200: DeliveryPageSerializer},
    )
    def get(self, request: Request, customer_id: str, pk: str) -> Response:
        endpoint = self.get_endpoint()
        deliveries = Delivery.objects.filter(endpoint=endpoint)
        state = request.query_params.get("state")
        if state:
            if state not in Delivery.State.values:
                raise ApiError(*BAD_STATE, path="state")
            deliveries = deliveries.filter(state=state)
        page = KeysetPage(request, deliveries.select_related("event").only(
            "id", "event_id", "event__state", "call_id", "sequence", "state", "attempts", "last_status", "last_error",
            "created_at", "next_attempt_at", "finished_at",
        ), "created_at")
        return page.response("deliveries", DeliverySerializer(page.items, many=True).data)


class TestEventView(EndpointView):
    """Sends one sample RINGING event now, outside the queue, and answers with the outcome."""

    serializer_class = TestResultSerializer

    @documented(
        description="Send one sample event (state RINGING, a callId starting with `test-`) to the endpoint now, outside the "
        f"queue, and answer with the attempt's outcome. Nothing is stored. {WHO}",
        response_example={"delivered": True, "status": 204, "error": None, "durationMs": 38},
        errors=[NO_ENDPOINT, NO_CUSTOMER, DENIED],
        summary="Send a sample event to a call notify item now", request=None, responses={200: TestResultSerializer},
    )
    def post(self, request: Request, customer_id: str, pk: str) -> Response:
        endpoint = self.get_endpoint()
        with sending_slot(endpoint.customer_id):
            result = send_test_event(endpoint)
        return Response({"delivered": result.delivered, "status": result.status, "error": result.error,
                         "durationMs": result.duration_ms})


logger = logging.getLogger("callnotify.replay")
# Deliveries one recover call queues at most; the answer's `more` says to call again.
RECOVER_BATCH = 10_000  # FAILED deliveries one recover call queues, and PENDING ones it lets a customer have


def recover_room(customer: Customer) -> int:
    """How many more deliveries a recover may queue for the customer: a recover never takes the
    customer's PENDING deliveries past RECOVER_BATCH (counted on the PENDING index, at most that many
    rows), so repeated calls cannot queue faster than the engine delivers."""
    pending = Delivery.objects.filter(endpoint__customer=customer, state=Delivery.State.PENDING)[:RECOVER_BATCH].count()
    return max(0, RECOVER_BATCH - pending)


class ReplayRateThrottle(UserRateThrottle):
    scope = "replay"

    def get_rate(self) -> str:
        return settings.API_RATE_REPLAY


ENDPOINT_DISABLED: Error = (409, "state", f"Call notify is {CallNotify.State.DISABLED}: set it {CallNotify.State.ACTIVE} first")
NO_DELIVERY: Error = (404, "not_found", "Delivery not found")


def not_retryable(state: str) -> Error:
    return (409, "state", f"Delivery is {state}: only a {Delivery.State.FAILED} delivery can be retried")


class ReplayView(EndpointView):
    permission_classes = [Access.CALL_NOTIFY_REPLAY]  # MANAGER and up, on a customer in reach

    def get_throttles(self) -> list[Any]:
        return [*super().get_throttles(), ReplayRateThrottle()]

    def get_active_endpoint(self) -> CallNotify:
        endpoint = self.get_endpoint()
        if endpoint.state != CallNotify.State.ACTIVE:
            raise ApiError(*ENDPOINT_DISABLED)
        return endpoint


class RetryView(ReplayView):
    serializer_class = DeliverySerializer

    @documented(
        description="Retry one FAILED delivery now: it becomes PENDING and is attempted at once, with a fresh round of "
        f"attempts. Who: MANAGER and up of the customer (as for call notify items otherwise). {WHO}",
        response_example={**WAITING, "state": "PENDING", "attempts": 0},
        errors=[NO_ENDPOINT, NO_DELIVERY, NO_CUSTOMER, DENIED, not_retryable(Delivery.State.DELIVERED), ENDPOINT_DISABLED],
        summary="Retry one FAILED delivery now (MANAGER and up)", request=None, responses={202: DeliverySerializer},
    )
    def post(self, request: Request, customer_id: str, pk: str, delivery_id: str) -> Response:
        endpoint = self.get_endpoint()
        key = normalize_id(delivery_id)
        delivery = Delivery.objects.filter(endpoint=endpoint, pk=key).first() if key else None
        if delivery is None:
            raise ApiError(*NO_DELIVERY)
        if delivery.state != Delivery.State.FAILED:
            raise ApiError(*not_retryable(delivery.state))
        self.get_active_endpoint()
        retry_now([delivery.pk])
        logger.info("%s retried delivery %s of call notify %s", request.user, delivery.pk, endpoint.pk)
        delivery = Delivery.objects.select_related("event").get(pk=delivery.pk)
        return Response(DeliverySerializer(delivery).data, status=202)


@extend_schema_serializer(description="Since when failed deliveries are retried.")
class RecoverRequest(serializers.Serializer):
    since = serializers.DateTimeField(help_text="ISO 8601; FAILED deliveries created at or after it are retried")


@extend_schema_serializer(description="How many failed deliveries were queued again.")
class RecoverAnswer(serializers.Serializer):
    queued = serializers.IntegerField(help_text="FAILED deliveries queued again by this call")
    more = serializers.BooleanField(help_text=f"true when not every match was queued (more than {RECOVER_BATCH}, or the "
                                    f"customer already has {RECOVER_BATCH} PENDING deliveries): call again later")


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time as an aware UTC datetime, or None (not a string, not a time, out of range)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = parse_datetime(value)
        if parsed is None:
            return None
        return (parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, dt_timezone.utc)).astimezone(dt_timezone.utc)
    except (ValueError, OverflowError):  # well formed but no such time ("2026-13-40"), or past year 1 / 9999
        return None


def invalid_time(name: str) -> Error:
    return (422, name, f"Invalid {name}")


def not_a_time(name: str) -> Error:
    return (400, "bad_request", f"{name} must be an ISO 8601 time")


def _when(name: str, value: object) -> datetime:
    parsed = parse_time(value)
    if parsed is None:
        raise ApiError(*invalid_time(name), path=name)
    return parsed


class RecoverView(ReplayView):
    serializer_class = RecoverAnswer

    @documented(
        description="Retry every FAILED delivery of the endpoint created at or after `since` (at most 10,000 a call, and "
        "never past 10,000 PENDING deliveries of the customer; `more` says to call again). Who: MANAGER and up. "
        f"{WHO}",
        response_example={"queued": 42, "more": False}, request_example={"since": "2026-11-23T08:00:00Z"},
        errors=[NO_ENDPOINT, NO_CUSTOMER, DENIED, invalid_time("since"), ENDPOINT_DISABLED, BAD_JSON, NOT_OBJECT],
        summary="Retry every FAILED delivery of a call notify item since a time (MANAGER and up)",
        request=RecoverRequest, responses={202: RecoverAnswer},
    )
    def post(self, request: Request, customer_id: str, pk: str) -> Response:
        endpoint = self.get_endpoint()
        body = request.data if isinstance(request.data, dict) else {}
        since = _when("since", body.get("since"))
        self.get_active_endpoint()
        room = recover_room(endpoint.customer)
        ids = list(Delivery.objects.filter(endpoint=endpoint, state=Delivery.State.FAILED, created_at__gte=since)
                   .order_by("created_at", "id").values_list("id", flat=True)[: room + 1])
        queued = retry_now(ids[:room])
        logger.info("%s recovered %d deliveries of call notify %s since %s", request.user, queued, endpoint.pk, since.isoformat())
        return Response({"queued": queued, "more": len(ids) > room}, status=202)


@extend_schema_serializer(description="One page of a customer's call events, newest first.")
class CallEventPageSerializer(serializers.Serializer):
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    total = serializers.IntegerField()
    callEvents = CallEventSerializer(many=True)


class CallEventListView(CustomerScopedMixin, GenericAPIView):
    """The customer's call events, newest first (by timestamp), paged; who: as for call notify items."""

    serializer_class = CallEventPageSerializer

    @documented(
        description=f"The customer's call events, newest first, paged; `callId`, `since` and `until` narrow the list. {WHO}",
        response_example={"offset": 0, "limit": 100, "total": 1, "callEvents": [{"_id": EVENT_ID, **CALL_EVENT, "sequence": 2}]},
        errors=[NO_CUSTOMER, DENIED, BAD_PAGE, BAD_CURSOR, not_a_time("since")],
        summary="List the customer's call events (newest first)",
        parameters=[OpenApiParameter("offset", int), OpenApiParameter("limit", int), CURSOR_PARAMETER,
                    OpenApiParameter("callId", str, description="only this call's events"),
                    OpenApiParameter("since", str, description="ISO 8601: events whose timestamp is at or after it"),
                    OpenApiParameter("until", str, description="ISO 8601: events whose timestamp is before it")],
        responses={200: CallEventPageSerializer},
    )
    def get(self, request: Request, customer_id: str) -> Response:
        events = CallEvent.objects.filter(customer=self.customer)
        params = request.query_params
        if params.get("callId"):
            events = events.filter(call_id=params["callId"])
        for name, lookup in (("since", "timestamp__gte"), ("until", "timestamp__lt")):
            if params.get(name):
                value = parse_time(params[name])
                if value is None:
                    raise ApiError(*not_a_time(name), path=name)
                events = events.filter(**{lookup: value})
        page = KeysetPage(request, events, "timestamp")
        return page.response("callEvents", CallEventSerializer(page.items, many=True).data)
