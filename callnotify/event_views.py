"""Call event ingestion (POST /api/callevent) and the delivery log and test of one endpoint (docs/callevents.md §1, §5)."""

from __future__ import annotations

from django.urls import URLPattern, path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Customer
from accounts.permissions import Access
from callnotify.delivery import record_call_event, send_test_event
from callnotify.event_serializers import (CallEventAcceptedSerializer, CallEventSerializer, DeliveryPageSerializer,
                                          DeliverySerializer, TestResultSerializer)
from callnotify.models import CallNotify, Delivery
from callnotify.testsend import sending_slot
from callnotify.views import CustomerScopedMixin
from telecomx.api import OffsetPage
from telecomx.errors import ApiError
from telecomx.ids import normalize_id



class CallEventView(GenericAPIView):
    """A switch reports a call state change; answers 202 with the event and the deliveries queued."""

    permission_classes = [Access.CALL_EVENT_POST]
    serializer_class = CallEventSerializer
    api_key_access = True  # service accounts' API keys reach this (accounts/authentication.py)

    @extend_schema(summary="Report a call event", responses={202: CallEventAcceptedSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        customer = Customer.objects.get(pk=fields.pop("customer_id"))  # the model check found it
        recorded = record_call_event(customer=customer, **fields)
        body = {"_id": recorded.event.id, "sequence": recorded.event.sequence, "deliveries": recorded.deliveries}
        return Response(body, status=202)


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


def _item(suffix: str) -> str:
    return f"customer/<str:customer_id>/callnotify/<str:pk>/{suffix}"


urls: list[URLPattern] = [
    path("callevent", CallEventView.as_view(), name="callevent"),
    path(_item("deliveries"), DeliveryListView.as_view(), name="callnotify-deliveries"),
    path(_item("test"), TestEventView.as_view(), name="callnotify-test"),
]
