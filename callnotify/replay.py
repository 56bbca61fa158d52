"""Replay and recovery for customers, and their call events (docs/callevents.md §5; docs/callevents.md §5a).

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
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle

from accounts.permissions import Access
from callnotify.delivery import retry_now
from callnotify.models import CallEvent, CallNotify, Delivery
from callnotify.serializers import CallEventSerializer, DeliverySerializer
from callnotify.views import CustomerScopedMixin, EndpointView
from telecomx.api import page_bounds
from telecomx.errors import ApiError
from telecomx.ids import normalize_id

logger = logging.getLogger("callnotify.replay")
# Deliveries one recover call queues at most; the answer's `more` says to call again.
RECOVER_BATCH = 10_000


class ReplayRateThrottle(UserRateThrottle):
    scope = "replay"

    def get_rate(self) -> str:
        return settings.API_RATE_REPLAY


class ReplayView(EndpointView):
    def get_throttles(self) -> list[Any]:
        return [*super().get_throttles(), ReplayRateThrottle()]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # signed in, and the customer in reach (404 `customer`)
        if not Access.CALL_NOTIFY_REPLAY().has_permission(request, self):
            raise ApiError(403, "access_denied", "Insufficient access level")

    def get_active_endpoint(self) -> CallNotify:
        endpoint = self.get_endpoint()
        if endpoint.state != CallNotify.State.ACTIVE:
            raise ApiError(409, "state", "Call notify is DISABLED: set it ACTIVE first")
        return endpoint


class RetryView(ReplayView):
    serializer_class = DeliverySerializer

    @extend_schema(summary="Retry one FAILED delivery now (MANAGER and up)", request=None, responses={202: DeliverySerializer})
    def post(self, request: Request, customer_id: str, pk: str, delivery_id: str) -> Response:
        endpoint = self.get_endpoint()
        key = normalize_id(delivery_id)
        delivery = Delivery.objects.filter(endpoint=endpoint, pk=key).first() if key else None
        if delivery is None:
            raise ApiError(404, "not_found", "Delivery not found")
        if delivery.state != Delivery.State.FAILED:
            raise ApiError(409, "state", f"Delivery is {delivery.state}: only a FAILED delivery can be retried")
        self.get_active_endpoint()
        retry_now([delivery.pk])
        logger.info("%s retried delivery %s of call notify %s", request.user, delivery.pk, endpoint.pk)
        delivery = Delivery.objects.select_related("event").get(pk=delivery.pk)
        return Response(DeliverySerializer(delivery).data, status=202)


class RecoverRequest(serializers.Serializer):
    since = serializers.DateTimeField(help_text="ISO 8601; FAILED deliveries created at or after it are retried")


class RecoverAnswer(serializers.Serializer):
    queued = serializers.IntegerField(help_text="FAILED deliveries queued again by this call")
    more = serializers.BooleanField(help_text=f"true when more than {RECOVER_BATCH} matched: call again for the next ones")


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


def _when(name: str, value: object) -> datetime:
    parsed = parse_time(value)
    if parsed is None:
        raise ApiError(422, name, f"Invalid {name}", path=name)
    return parsed


class RecoverView(ReplayView):
    serializer_class = RecoverAnswer

    @extend_schema(summary="Retry every FAILED delivery of a call notify item since a time (MANAGER and up)",
                   request=RecoverRequest, responses={202: RecoverAnswer},
                   examples=[OpenApiExample("since", value={"since": "2026-11-23T08:00:00Z"}, request_only=True),
                             OpenApiExample("queued", value={"queued": 42, "more": False}, response_only=True)])
    def post(self, request: Request, customer_id: str, pk: str) -> Response:
        endpoint = self.get_endpoint()
        body = request.data if isinstance(request.data, dict) else {}
        since = _when("since", body.get("since"))
        self.get_active_endpoint()
        ids = list(Delivery.objects.filter(endpoint=endpoint, state=Delivery.State.FAILED, created_at__gte=since)
                   .order_by("created_at", "id").values_list("id", flat=True)[: RECOVER_BATCH + 1])
        queued = retry_now(ids[:RECOVER_BATCH])
        logger.info("%s recovered %d deliveries of call notify %s since %s", request.user, queued, endpoint.pk, since.isoformat())
        return Response({"queued": queued, "more": len(ids) > RECOVER_BATCH}, status=202)


class CallEventPageSerializer(serializers.Serializer):
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    total = serializers.IntegerField()
    callEvents = CallEventSerializer(many=True)


class CallEventListView(CustomerScopedMixin, GenericAPIView):
    """The customer's call events, newest first (by timestamp), paged; who: as for call notify items."""

    serializer_class = CallEventPageSerializer

    @extend_schema(
        summary="List the customer's call events (newest first)",
        parameters=[OpenApiParameter("offset", int), OpenApiParameter("limit", int),
                    OpenApiParameter("callId", str, description="only this call's events"),
                    OpenApiParameter("since", str, description="ISO 8601: events whose timestamp is at or after it"),
                    OpenApiParameter("until", str, description="ISO 8601: events whose timestamp is before it")],
        responses={200: CallEventPageSerializer},
    )
    def get(self, request: Request, customer_id: str) -> Response:
        offset, limit = page_bounds(request)
        events = CallEvent.objects.filter(customer=self.customer)
        params = request.query_params
        if params.get("callId"):
            events = events.filter(call_id=params["callId"])
        for name, lookup in (("since", "timestamp__gte"), ("until", "timestamp__lt")):
            if params.get(name):
                value = parse_time(params[name])
                if value is None:
                    raise ApiError(400, "bad_request", f"{name} must be an ISO 8601 time", path=name)
                events = events.filter(**{lookup: value})
        page = events.order_by("-timestamp", "-id")[offset : offset + limit]
        return Response({"offset": offset, "limit": limit, "total": events.count(),
                         "callEvents": CallEventSerializer(page, many=True).data})


def _item(suffix: str) -> str:
    return f"customer/<str:customer_id>/callnotify/<str:pk>/{suffix}"


urls: list[URLPattern] = [
    path(_item("deliveries/<str:delivery_id>/retry"), RetryView.as_view(), name="callnotify-delivery-retry"),
    path(_item("recover"), RecoverView.as_view(), name="callnotify-recover"),
    path("customer/<str:customer_id>/callevent", CallEventListView.as_view(), name="customer-callevents"),
]
