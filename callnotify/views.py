"""Call notify items of one customer: /api/customer/<CUSTOMER_ID>/callnotify (docs/api.md §5)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Customer
from accounts.permissions import Access, customer_for
from callnotify import health
from callnotify.models import CallNotify
from callnotify.serializers import CallNotifySerializer
from telecomx.api import OffsetPage, ResourceViewSet, paged_list_schema
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
