"""The Telecom X resource style (api.md §1), once: list/create on the collection, and get,
update by POST or PATCH (both partial), delete on the item; plus the URL patterns for it."""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from django.urls import URLPattern, path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from telecomx.errors import ApiError

SuccessSerializer = inline_serializer("Success", {"success": serializers.BooleanField()})

# Paged lists (api.md §1): ?offset=0&limit=100, limit 1..500.
DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET = 100, 500, 10**9


def _whole_number(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    # isdigit on ASCII only, and a bound: "١٢" or 30 digits must not reach the database.
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ApiError(400, "bad_request", f"{name} must be a whole number from {low} to {high}", path=name)
    return int(raw)


def page_bounds(request: Request) -> tuple[int, int]:
    """The (offset, limit) of a paged list, or 400 `bad_request` naming the bad parameter."""
    return (
        _whole_number(request, "offset", 0, 0, MAX_OFFSET),
        _whole_number(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
    )


class ResourceViewSet(GenericViewSet):
    """Subclasses set `serializer_class`, `get_queryset()`, and `not_found` (status, code, message)."""

    not_found: tuple[int, str, str] = (404, "not_found", "Not found")
    pagination_class = None

    def normalize_lookup(self, value: str) -> Any:
        """The stored key for a URL id, or None when it cannot be one (answers not_found)."""
        return value

    def get_object(self) -> Model:
        raw = self.kwargs[self.lookup_field]
        # Every resource checks its ids in normalize_lookup; NUL (which PostgreSQL text cannot
        # hold) is refused here too, so a resource that forgets cannot answer 500.
        key = self.normalize_lookup(raw) if "\x00" not in raw else None
        obj = self.get_queryset().filter(pk=key).first() if key is not None else None
        if obj is None:
            raise ApiError(*self.not_found)
        self.check_object_permissions(self.request, obj)
        return obj

    def serializer_context_defaults(self) -> dict[str, Any]:
        """Values the client cannot set but the model needs to validate (e.g. the URL's customer)."""
        return {}

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "model_defaults": self.serializer_context_defaults()}

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        return Response(self.get_serializer(queryset, many=True).data)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.perform_save(serializer)
        return Response(serializer.data, status=status.HTTP_201_CREATED)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(self.get_object(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        self.perform_save(serializer)
        return Response(serializer.data)

    @extend_schema(description="Update (Telecom X style): the same as PATCH, only the properties sent change.")
    def update_by_post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(responses={200: SuccessSerializer})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.perform_destroy(self.get_object())
        return Response({"success": True})

    def perform_save(self, serializer: serializers.BaseSerializer) -> None:
        serializer.save(**self.serializer_context_defaults())

    def perform_destroy(self, instance: Model) -> None:
        instance.delete()


def resource_urls(prefix: str, viewset: type[ResourceViewSet], name: str, *, item: str = "<str:pk>") -> list[URLPattern]:
    """`prefix` (list, create) and `prefix/<item>` (get, POST/PATCH update, delete)."""
    return [
        path(prefix, viewset.as_view({"get": "list", "post": "create"}), name=f"{name}-list"),
        path(
            f"{prefix}/{item}",
            viewset.as_view({"get": "retrieve", "post": "update_by_post", "patch": "partial_update", "delete": "destroy"}),
            name=f"{name}-detail",
        ),
    ]
