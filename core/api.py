"""The Telecom X resource style, once: list/create on the collection, and get, update by POST or
PATCH (both partial), delete on the item; the URL patterns for it; and the one way lists page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

from django.db import IntegrityError, transaction
from django.db.models import F, Model, ProtectedError, QuerySet, RestrictedError, UniqueConstraint
from django.urls import URLPattern, path
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet, ViewSetMixin

from core.docs import documented
from core.errors import NOT_FOUND, ApiError, Error


@extend_schema_serializer(description="The action was done.")
class SuccessSerializer(serializers.Serializer):
    success = serializers.BooleanField()


# Paged lists: ?offset=0&limit=100, limit 1..500.
DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET = 100, 500, 10**9


def not_a_whole_number(name: str, low: int, high: int) -> Error:
    return (400, "bad_request", f"{name} must be a whole number from {low} to {high}")


BAD_PAGE = not_a_whole_number("limit", 1, MAX_LIMIT)  # (its twin for offset has the same words)


def _whole_number(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    # isdigit on ASCII only, and a bound: "١٢" or 30 digits must not reach the database.
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ApiError(*not_a_whole_number(name, low, high), path=name)
    return int(raw)


def page_bounds(request: Request) -> tuple[int, int]:
    """The (offset, limit) of a paged list, or 400 `bad_request` naming the bad parameter."""
    return (
        _whole_number(request, "offset", 0, 0, MAX_OFFSET),
        _whole_number(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
    )


class OffsetPage:
    """One page of a list: `?offset=` (from 0) and `?limit=` (1..500, default 100).

    Lists born paged answer `{"offset", "limit", "total", "<items>": [...]}` (`body`); the plain
    array lists of the Telecom X API page only when asked (`requested`) and then answer one page
    as a plain array with `X-Total-Count` and an RFC 8288 `Link` header (`array_response`).
    """

    def __init__(self, request: Request, queryset: QuerySet) -> None:
        self.request = request
        self.offset, self.limit = page_bounds(request)
        self.total = queryset.count()
        self.items = list(queryset[self.offset : self.offset + self.limit])

    @staticmethod
    def requested(request: Request) -> bool:
        return "offset" in request.query_params or "limit" in request.query_params

    def body(self, key: str, items: list[Any]) -> dict[str, Any]:
        return {"offset": self.offset, "limit": self.limit, "total": self.total, key: items}

    def _link(self, offset: int) -> str:
        query = self.request.query_params.copy()
        query["offset"], query["limit"] = str(offset), str(self.limit)
        return f"<{self.request.build_absolute_uri(self.request.path)}?{urlencode(list(query.lists()), doseq=True)}>"

    def array_response(self, items: list[Any]) -> Response:
        response = Response(items)
        response["X-Total-Count"] = str(self.total)
        links = []
        if self.offset + self.limit < self.total:
            links.append(f'{self._link(self.offset + self.limit)}; rel="next"')
        if self.offset > 0:
            links.append(f'{self._link(max(0, min(self.offset, self.total) - self.limit))}; rel="prev"')
        if links:
            response["Link"] = ", ".join(links)
        return response


# The schema of a plain-array list that pages on request.
ARRAY_PAGE_PARAMETERS = [
    OpenApiParameter("offset", int, description="Page from this item on (0..); with `limit`, or alone (limit 100)"),
    OpenApiParameter("limit", int, description="Items per page, 1..500 (default 100). Without `offset` and `limit` the whole list is answered"),
]
ARRAY_PAGE_HEADERS = [
    OpenApiParameter("X-Total-Count", int, OpenApiParameter.HEADER, response=[200],
                     description="Items in the whole list (only when paging was asked for)"),
    OpenApiParameter("Link", str, OpenApiParameter.HEADER, response=[200],
                     description='RFC 8288 links to the neighbouring pages, `<URL>; rel="next", <URL>; rel="prev"` '
                     "(only when paging was asked for and such a page exists)"),
]


def paged_list_schema(summary: str, parameters: list[OpenApiParameter] | None = None, **kwargs: Any) -> Any:
    """core.docs.documented for a plain-array list that pages on request."""
    return documented(summary=summary, parameters=[*(parameters or []), *ARRAY_PAGE_PARAMETERS, *ARRAY_PAGE_HEADERS], **kwargs)
def constraint_fields(constraint: UniqueConstraint) -> list[str]:
    """The model fields a unique constraint is about (`Lower("id")` is about `id`)."""
    if constraint.fields:
        return list(constraint.fields)
    return [node.name for expression in constraint.expressions for node in expression.flatten() if isinstance(node, F)]


def violated_constraint(exc: IntegrityError, model: type[Model]) -> tuple[str, str, list[str]] | None:
    """(code, message, fields) of the `model` constraint that refused a write, or None.

    Found by the constraint's name (PostgreSQL names it; SQLite names the index or its columns)
    and answered with its own `violation_error_code` and `violation_error_message`. A duplicate
    primary key is answered by the constraint covering that field, else by the field's `unique`
    message with the field's name as the code.
    """
    diag = getattr(exc.__cause__, "diag", None)
    name = getattr(diag, "constraint_name", None) or str(exc).partition("constraint failed: ")[2]
    opts = model._meta
    unique = [c for c in opts.constraints if isinstance(c, UniqueConstraint)]

    def columns(fields: list[str]) -> str:
        return ", ".join(f"{opts.db_table}.{opts.get_field(field).column}" for field in fields)

    for constraint in unique:
        if name in (constraint.name, f"index '{constraint.name}'") or (constraint.fields and name == columns(list(constraint.fields))):
            return constraint.violation_error_code or "conflict", str(constraint.violation_error_message), constraint_fields(constraint)
    pk = opts.pk
    if pk is not None and name in (f"{opts.db_table}_pkey", columns([pk.name])):
        for constraint in unique:
            if constraint_fields(constraint) == [pk.name] and constraint.condition is None:
                return constraint.violation_error_code or "conflict", str(constraint.violation_error_message), [pk.name]
        return pk.name, str(pk.error_messages["unique"]), [pk.name]
    return None


class ResourceViewSet(GenericViewSet):
    """Subclasses set `serializer_class`, `get_queryset()`, and `not_found` (status, code, message);
    `in_use` (status, code, message) answers a delete refused because other rows point to the item."""

    not_found: Error = NOT_FOUND
    in_use: Error | None = None
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
        if OffsetPage.requested(request):
            page = OffsetPage(request, queryset)
            return page.array_response(self.get_serializer(page.items, many=True).data)
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

    # A view method carrying `mapping` (as DRF's extra actions do) can be documented per viewset
    # with extend_schema_view, as list or create can; the URL is resource_urls'.
    update_by_post.mapping = {"post": "update_by_post"}  # type: ignore[attr-defined]

    @extend_schema(responses={200: SuccessSerializer})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.perform_destroy(self.get_object())
        return Response({"success": True})

    @contextmanager
    def documented_conflicts(self, serializer: Any = None) -> Iterator[None]:
        """Write atomically; a violated constraint of this resource's model becomes its own 409,
        and a row still referenced (PROTECT, or a reference added concurrently) `in_use`."""
        try:
            with transaction.atomic():
                yield
        except (ProtectedError, RestrictedError):
            if self.in_use is None:
                raise
            raise ApiError(*self.in_use) from None
        except IntegrityError as exc:
            found = violated_constraint(exc, self.get_queryset().model)
            if found is not None:
                code, message, fields = found
                path = serializer.wire_name(fields[0]) if serializer is not None and len(fields) == 1 else None
                raise ApiError(409, code, message, path=path) from exc
            if self.in_use is not None and "foreign key" in str(exc).lower():
                raise ApiError(*self.in_use) from exc
            raise

    def perform_save(self, serializer: serializers.BaseSerializer) -> None:
        with self.documented_conflicts(serializer):
            serializer.save(**self.serializer_context_defaults())

    def perform_destroy(self, instance: Model) -> None:
        with self.documented_conflicts():
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


READ_ACTIONS = {"list", "retrieve"}


class ReadWritePermissions:
    """One permission (an accounts.permissions.Access entry) for reading, one for everything else.
    Reading is a viewset's list or retrieve, or a plain view's GET."""

    read_permission: type[BasePermission]
    write_permission: type[BasePermission]

    def get_permissions(self) -> list[BasePermission]:
        if isinstance(self, ViewSetMixin):
            reading = getattr(self, "action", None) in READ_ACTIONS
        else:
            reading = self.request.method == "GET"  # type: ignore[attr-defined]
        return [self.read_permission() if reading else self.write_permission()]


class ReadWriteViewSet(ReadWritePermissions, ResourceViewSet):
    """One permission for reading, one for everything else."""

    # (drf-spectacular shows this docstring as the description of the subclasses' operations)
