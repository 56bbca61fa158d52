"""Call notify items of one customer: /api/customer/<CUSTOMER_ID>/callnotify (docs/api.md §5)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.request import Request

from accounts.models import Customer
from accounts.permissions import customer_for
from callnotify.models import CallNotify
from callnotify.serializers import CallNotifySerializer
from telecomx.api import ResourceViewSet, paged_list_schema
from telecomx.ids import normalize_id


class CustomerScopedMixin:
    """Resolves the URL's customer before anything else: 404 `customer` or 403 as docs/api.md §3 says."""

    customer: Customer

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        self.customer = customer_for(request.user, kwargs["customer_id"])


@extend_schema_view(
    list=paged_list_schema("List the customer's call notify items"),
    create=extend_schema(summary="Create a call notify item"),
    retrieve=extend_schema(summary="Get a call notify item"),
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

    def serializer_context_defaults(self) -> dict[str, Any]:
        return {"customer": self.customer} if hasattr(self, "customer") else {}
