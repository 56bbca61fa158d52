"""Call notify items of one customer (docs/api.md §5), call event ingestion (docs/callevents.md §1),
and the delivery log and test of one endpoint (docs/callevents.md §5)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import (OpenApiExample, OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer,
                                   extend_schema, extend_schema_view)
from rest_framework import serializers as drf_serializers
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Customer
from accounts.permissions import Access, customer_for, event_reach
from callnotify import health, store
from callnotify.delivery import send_test_event
from callnotify.models import CallNotify, Delivery
from callnotify.testsend import sending_slot
from callnotify.serializers import (CallEventAcceptedSerializer, CallEventSerializer, CallNotifySerializer,
                                    DeliveryPageSerializer, DeliverySerializer, TestResultSerializer)
from telecomx.api import OffsetPage, ResourceViewSet, paged_list_schema
from telecomx.errors import ApiError, error_body, validation_body
from telecomx.ids import normalize_id


class CustomerScopedMixin:
    """Resolves the URL's customer before anything else: 404 `customer` or 403 as docs/api.md §3 says."""

    permission_classes = [Access.CALL_NOTIFY]
    customer: Customer

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        self.customer = customer_for(request.user, kwargs["customer_id"])


@extend_schema_view(
    list=paged_list_schema("List the customer's call notify items"),
    create=extend_schema(summary="Create a call notify item"),
    retrieve=extend_schema(summary="Get a call notify item, with its delivery health", examples=[OpenApiExample(
        "An endpoint that recovered", response_only=True, value={
            "_id": "6740a1b2c3d4e5f6a7b8c9d1", "customer": "6740a1b2c3d4e5f6a7b8c9d0", "url": "https://hooks.example.com/calls",
            "method": "POSTJSON", "selection": "ALL", "state": "ACTIVE",
            "health": {"lastHour": {"delivered": 41, "failed": 2, "p50DurationMs": 50, "p95DurationMs": 250},
                       "lastDay": {"delivered": 980, "failed": 9, "p50DurationMs": 50, "p95DurationMs": 500},
                       "lastSuccessAt": "2026-11-23T12:41:07.120000Z", "lastFailureAt": "2026-11-23T12:39:55.004000Z",
                       "consecutiveFailures": 0, "failingSince": None, "disabledReason": None}})]),
    partial_update=extend_schema(summary="Update a call notify item (PATCH)"),
    destroy=extend_schema(summary="Delete a call notify item"),
)
class CallNotifyViewSet(CustomerScopedMixin, ResourceViewSet):
    serializer_class = CallNotifySerializer
    not_found = (404, "not_found", "Call notify not found")

    def get_queryset(self) -> QuerySet[CallNotify]:
        return CallNotify.objects.filter(customer=self.customer).order_by("id")

    def normalize_lookup(self, value: str) -> str | None:
        return normalize_id(value)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = OffsetPage(request, self.get_queryset()) if OffsetPage.requested(request) else None
        items = page.items if page else list(self.get_queryset())
        context = {**self.get_serializer_context(), "health": health.health_of(items)}
        data = CallNotifySerializer(items, many=True, context=context).data
        return page.array_response(data) if page else Response(data)

    def serializer_context_defaults(self) -> dict[str, Any]:
        return {"customer": self.customer} if hasattr(self, "customer") else {}


class CallEventView(GenericAPIView):
    """A switch reports call state changes: one event (an object) or up to 1,000 (an array); answers 202."""

    permission_classes = [Access.CALL_EVENT_POST]
    serializer_class = CallEventSerializer
    service_view = True  # API_RATE_SERVICE for switches (telecomx/throttling.py)
    api_key_access = True  # service accounts' API keys reach this (accounts/authentication.py)

    @extend_schema(
        summary="Report a call event, or a batch of up to 1,000",
        request=PolymorphicProxySerializer(component_name="CallEventOrBatch", resource_type_field_name=None, many=False,
                                           serializers=[CallEventSerializer, CallEventSerializer(many=True)]),
        responses={202: OpenApiResponse(CallEventAcceptedSerializer,
                                        description="the stored event; for an array, an array of these or {error} items")},
    )
    def post(self, request: Request) -> Response:
        data = request.data
        if isinstance(data, list):
            if len(data) > store.MAX_BATCH or not all(isinstance(item, dict) for item in data):
                raise ApiError(400, "bad_request", f"The request body must be a JSON object or an array of at most "
                                                   f"{store.MAX_BATCH} objects")
            return Response(self._store_batch(data), status=202)
        if not isinstance(data, dict):
            raise ApiError(400, "bad_request", "The request body must be a JSON object or an array of at most "
                                               f"{store.MAX_BATCH} objects")
        customers = self._customers([data])
        new = self._validate(data, self._checker(customers))  # raises the documented 422
        return Response(store.store_one(new, customers[new.customer_id]).as_dict(), status=202)

    def _customers(self, items: list[dict]) -> dict[str, store.CustomerInfo]:
        """The customers named in the request that the poster may report for, with their active endpoints."""
        wanted = {pk for item in items if (pk := normalize_id(item.get("customer")))}
        found = store.customers_with_endpoints(wanted)
        reach = event_reach(self.request.user, {pk: (c.is_reseller, c.parent_reseller_id) for pk, c in found.items()})
        return {pk: info for pk, info in found.items() if pk in reach}

    def _checker(self, customers: dict[str, store.CustomerInfo]) -> CallEventSerializer:
        """One serializer checks every event of the request (its fields are built once)."""
        return CallEventSerializer(context={"reachable": customers, "request": self.request})

    @staticmethod
    def _validate(item: dict, checker: CallEventSerializer) -> store.NewEvent:
        fields = dict(checker.run_validation(item))
        return store.NewEvent(fields.pop("customer_id"), fields.pop("call_id"), fields)

    def _store_batch(self, items: list[dict]) -> list[dict[str, Any]]:
        customers = self._customers(items)
        checker = self._checker(customers)
        events: list[store.NewEvent | None] = []
        errors: dict[int, dict] = {}
        for index, item in enumerate(items):
            try:
                events.append(self._validate(item, checker))
            except drf_serializers.ValidationError as exc:
                events.append(None)
                errors[index] = validation_body(exc.detail)
            except ApiError as exc:
                events.append(None)
                errors[index] = error_body(exc.status_code, exc.code, exc.message, exc.path)
        stored = store.store_many(events, customers)
        return [errors[i] if answer is None else answer.as_dict() for i, answer in enumerate(stored)]


class EndpointView(CustomerScopedMixin, GenericAPIView):
    """Something under one call notify item of the URL's customer."""

    def get_endpoint(self) -> CallNotify:
        pk = normalize_id(self.kwargs["pk"])
        endpoint = CallNotify.objects.filter(customer=self.customer, pk=pk).first() if pk else None
        if endpoint is None:
            raise ApiError(404, "not_found", "Call notify not found")
        return endpoint


class DeliveryListView(EndpointView):
    """The delivery log of one call notify item: newest first, paged, optionally one state."""

    serializer_class = DeliverySerializer

    @extend_schema(
        summary="Delivery log of a call notify item (newest first)",
        parameters=[OpenApiParameter("offset", int), OpenApiParameter("limit", int),
                    OpenApiParameter("state", str, enum=Delivery.State.values)],
        responses={200: DeliveryPageSerializer},
    )
    def get(self, request: Request, customer_id: str, pk: str) -> Response:
        endpoint = self.get_endpoint()
        deliveries = Delivery.objects.filter(endpoint=endpoint)
        state = request.query_params.get("state")
        if state:
            if state not in Delivery.State.values:
                raise ApiError(400, "bad_request", "state must be PENDING, DELIVERED or FAILED", path="state")
            deliveries = deliveries.filter(state=state)
        page = OffsetPage(request, deliveries.select_related("event").only(
            "id", "event_id", "event__state", "call_id", "sequence", "state", "attempts", "last_status", "last_error",
            "created_at", "next_attempt_at", "finished_at",
        ).order_by("-created_at", "-id"))
        return Response(page.body("deliveries", DeliverySerializer(page.items, many=True).data))


class TestEventView(EndpointView):
    """Sends one sample RINGING event now, outside the queue, and answers with the outcome."""

    serializer_class = TestResultSerializer

    @extend_schema(summary="Send a sample event to a call notify item now", request=None,
                   responses={200: TestResultSerializer})
    def post(self, request: Request, customer_id: str, pk: str) -> Response:
        endpoint = self.get_endpoint()
        with sending_slot(endpoint.customer_id):
            result = send_test_event(endpoint)
        return Response({"delivered": result.delivered, "status": result.status, "error": result.error,
                         "durationMs": result.duration_ms})
