"""The Telecom X resource style, once, on DRF's own pieces: list/create on the collection, and get,
update by POST or PATCH (both partial), delete on the item (DRF's GenericViewSet and model mixins,
with the API's error bodies and answers where they differ from DRF's); the URL patterns for it;
and the one way lists page (DRF's LimitOffsetPagination with the API's bounds and shapes)."""

from __future__ import annotations

import base64

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any
from urllib.parse import urlencode

from django.db import IntegrityError, transaction
from django.db.models import F, Model, ProtectedError, Q, QuerySet, RestrictedError, UniqueConstraint
from django.urls import URLPattern
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import mixins, serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.routers import Route, SimpleRouter
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet, ViewSetMixin

from core.docs import documented
from core.errors import NOT_FOUND, ApiError, Error
from core.negotiation import PLAIN
from core.renderers import FastJSONRenderer
from core.representation import ValuesRepresentation, adds_per_page, stream


class SwitchView:
    """DRF's dispatch, for the views a switch calls on every call (the route look-up, the call
    event post), with what is the same on every request made once per view class instead of once
    per request: the permission objects, parsers, content negotiator, renderer and Allow header
    (none keeps anything between requests). A request whose method is in `switch_methods` and that
    accepts JSON plainly (no Accept, `*/*`, `application/json`: what core.negotiation answers at
    once) then runs the same steps as DRF's dispatch, in the same order, with the same objects:
    authentication, permissions, rate limits, the handler, DRF's exception handling and
    finalize_response. Any other request goes DRF's own way. One renderer only (no Vary)."""

    switch_methods: tuple[str, ...] = ("GET",)

    def get_permissions(self) -> list[BasePermission]:
        return self._made()[0]

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if request.method not in self.switch_methods or request.META.get("HTTP_ACCEPT", "").strip() not in PLAIN:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        _, parsers, negotiator, renderer, allow = self._made()
        view: Any = self
        self.args, self.kwargs, self.format_kwarg = args, kwargs, None
        drf = Request(request, parsers=parsers, authenticators=self.get_authenticators(),  # type: ignore[attr-defined]
                      negotiator=negotiator, parser_context={"view": self, "args": args, "kwargs": kwargs})
        drf.accepted_renderer, drf.accepted_media_type = renderer, renderer.media_type
        drf.version, drf.versioning_scheme = None, None
        self.request, self.headers = drf, {"Allow": allow}
        try:
            view.perform_authentication(drf)
            view.check_permissions(drf)
            view.check_throttles(drf)
            response = getattr(self, request.method.lower())(drf, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - DRF's own handling, as in its dispatch
            response = view.handle_exception(exc)
        response = view.finalize_response(drf, response, *args, **kwargs)
        # The request, its parser context and this view hold one another, and the view its own `head`
        # (Django's setup): let them go now, by count, rather than leave them to the cycle
        # collector (92 young collections in 2,000 posts, against the bare view's 6).
        drf.parser_context = self.request = None
        self.__dict__.pop("head", None)
        return response

    def _made(self) -> tuple[list[BasePermission], list[Any], Any, Any, str]:
        view: Any = self
        made = type(self).__dict__.get("_switch_made")
        if made is None:
            assert len(view.renderer_classes) == 1, "a switch view renders JSON only"
            # DRF's Allow header: the methods the view has, HEAD among them when it has GET (Django's
            # View.setup adds it to each instance; an instance made otherwise, as the schema's, has not).
            allow = ", ".join(method.upper() for method in view.http_method_names
                              if hasattr(view, method) or (method == "head" and hasattr(view, "get")))
            made = ([permission() for permission in view.permission_classes], view.get_parsers(),
                    view.get_content_negotiator(), view.renderer_classes[0](), allow)
            type.__setattr__(type(self), "_switch_made", made)
        return made


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
    paging = Paging()
    return paging.get_offset(request), paging.get_limit(request)


class Paging(LimitOffsetPagination):
    """DRF's limit/offset paging within the API's bounds: `?offset=` 0..10^9, `?limit=` 1..500
    (100 when left out); a value out of them is 400 `bad_request` naming it, not DRF's silent clamp."""

    default_limit, max_limit = DEFAULT_LIMIT, MAX_LIMIT

    def get_limit(self, request: Request) -> int:
        return _whole_number(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request: Request) -> int:
        return _whole_number(request, self.offset_query_param, 0, 0, MAX_OFFSET)


BAD_CURSOR: Error = (400, "bad_request", "Invalid cursor")


class OffsetPage:
    """One page of a list born paged: `{"offset", "limit", "total", "<items>": [...]}` (`body`)."""

    def __init__(self, request: Request, queryset: QuerySet) -> None:
        paging = Paging()
        self.items = paging.paginate_queryset(queryset, request)
        self.offset, self.limit, self.total = paging.offset, paging.limit, paging.count

    def body(self, key: str, items: list[Any]) -> dict[str, Any]:
        return {"offset": self.offset, "limit": self.limit, "total": self.total, key: items}


class KeysetPage(OffsetPage):
    """One page of a log born paged, as OffsetPage answers it, newest first by `order` (a time
    field, then the id). Besides `?offset=`, a page may start at `?cursor=`, the opaque value the previous page's `Link: <…>; rel="next"` header carries: the
    rows after that page's last one, found on the list's index, so page 4,000 costs what page 1
    does (`offset` then counts from the cursor). Every page that has rows after it carries that
    header; `response(key, items)` builds the answer with it.
    """

    def __init__(self, request: Request, queryset: QuerySet, order: str) -> None:  # noqa: PLW0231 - its own paging
        self.request, self.order = request, order
        self.offset, self.limit = page_bounds(request)
        self.total = queryset.count()
        raw = request.query_params.get("cursor")
        if raw is not None:
            after = _cursor_value(raw, queryset.model._meta.get_field(order))
            # `order <= time` on its own as well: a range the list's index starts at (the OR alone
            # made PostgreSQL walk the index from the newest row, as an offset does).
            queryset = queryset.filter(Q(**{f"{order}__lte": after[0]}),
                                       Q(**{f"{order}__lt": after[0]}) | Q(**{order: after[0], "pk__lt": after[1]}))
        rows = list(queryset.order_by(f"-{order}", "-pk")[self.offset : self.offset + self.limit + 1])
        self.items, self.more = rows[: self.limit], len(rows) > self.limit

    def response(self, key: str, items: list[Any]) -> Response:
        answer = Response(self.body(key, items))
        if self.more:
            last = self.items[-1]
            value = getattr(last, self.order).isoformat()
            cursor = base64.urlsafe_b64encode(f"{value}|{last.pk}".encode()).decode().rstrip("=")
            query = self.request.query_params.copy()
            query.pop("offset", None)
            query["cursor"], query["limit"] = cursor, str(self.limit)
            answer["Link"] = (f'<{self.request.build_absolute_uri(self.request.path)}?'
                              f'{urlencode(list(query.lists()), doseq=True)}>; rel="next"')
        return answer


def _cursor_value(raw: str, field: Any) -> tuple[Any, str]:
    """A cursor back into (time, id), or 400 `bad_request` "Invalid cursor" naming `cursor`."""
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode() if len(raw) <= 200 else ""
        value, _, pk = text.partition("|")
        when = parse_datetime(value)
    except (ValueError, UnicodeDecodeError):
        when, pk = None, ""
    if when is None or when.tzinfo is None or not pk or len(pk) > 64 or not pk.isascii() or not pk.isalnum():
        raise ApiError(*BAD_CURSOR, path="cursor")
    return field.to_python(when), pk


class ArrayPaging(Paging):
    """The plain-array lists of the Telecom X API page only when asked (`?offset=` or `?limit=`),
    and then answer one page, still a plain array, with the whole list's size in `X-Total-Count`
    and the neighbouring pages in an RFC 8288 `Link` header (the schema: paged_list_schema)."""

    answers_plain_array = True  # core.schema documents no page object for it

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: Any = None) -> list[Any] | None:
        if self.offset_query_param not in request.query_params and self.limit_query_param not in request.query_params:
            return None
        return super().paginate_queryset(queryset, request, view)

    def _link(self, offset: int) -> str:
        query = self.request.query_params.copy()
        query[self.offset_query_param], query[self.limit_query_param] = str(offset), str(self.limit)
        return f"<{self.request.build_absolute_uri(self.request.path)}?{urlencode(list(query.lists()), doseq=True)}>"

    def get_paginated_response(self, data: Any) -> Response:
        response = Response(data)
        response["X-Total-Count"] = str(self.count)
        links = []
        if self.offset + self.limit < self.count:
            links.append(f'{self._link(self.offset + self.limit)}; rel="next"')
        if self.offset > 0:
            links.append(f'{self._link(max(0, min(self.offset, self.count) - self.limit))}; rel="prev"')
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


class ResourceViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin,
                      GenericViewSet):
    """Subclasses set `serializer_class`, `get_queryset()`, and `not_found` (status, code, message);
    `in_use` (status, code, message) answers a delete refused because other rows point to the item."""

    not_found: Error = NOT_FOUND
    in_use: Error | None = None
    pagination_class = ArrayPaging

    def normalize_lookup(self, value: str) -> Any:
        """The stored key for a URL id, or None when it cannot be one (answers not_found)."""
        return value

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """DRF's list; a serializer with a values plan (core.representation) answers it from rows."""
        serializer = self.get_serializer()
        if not isinstance(serializer, ValuesRepresentation):
            return super().list(request, *args, **kwargs)
        plan = serializer.plan()
        rows = plan.values(self.filter_queryset(self.get_queryset()))
        page = self.paginate_queryset(rows)
        renderer = getattr(request, "accepted_renderer", None)
        indented = renderer is not None and renderer.get_indent(request.accepted_media_type, {}) is not None
        if page is None and not adds_per_page(serializer) and not indented:  # indented: one answer, as asked
            return stream(plan, rows, FastJSONRenderer().render)
        rows = serializer.finish_rows(plan.rows(rows if page is None else page))
        return Response(rows) if page is None else self.get_paginated_response(rows)

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

    def get_success_headers(self, data: Any) -> dict[str, str]:
        return {}  # no Location: DRF would take it from a `url` property, which a call notify item has


    @extend_schema(description="Update (Telecom X style): the same as PATCH, only the properties sent change.")
    def update_by_post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.partial_update(request, *args, **kwargs)

    # A view method carrying `mapping` (as DRF's extra actions do) can be documented per viewset
    # with extend_schema_view, as list or create can; the URL is resource_urls'.
    update_by_post.mapping = {"post": "update_by_post"}  # type: ignore[attr-defined]

    @extend_schema(responses={200: SuccessSerializer})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # The Telecom X answer to a delete is {"success": true}, not DRF's 204.
        self.perform_destroy(self.get_object())
        return Response({"success": True})

    @contextmanager
    def documented_conflicts(self, serializer: Any = None, atomic: bool = True) -> Iterator[None]:
        """Write atomically (`atomic=False`: the write is one statement, atomic by itself); a
        violated constraint of this resource's model becomes its own 409, and a row still
        referenced (PROTECT, or a reference added concurrently) `in_use`."""
        try:
            with transaction.atomic() if atomic else nullcontext():
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

    perform_create = perform_update = perform_save

    def perform_destroy(self, instance: Model) -> None:
        with self.documented_conflicts():
            instance.delete()


class ResourceRouter(SimpleRouter):
    """DRF's router for the resource style: `prefix` (list, create) and `prefix/<pk>` (get, update
    by POST or PATCH, delete), Django path syntax (`customer/<str:customer_id>/callnotify`), no
    trailing slash (core.errors' middleware takes one off), no PUT. A viewset's `unrouted_actions`
    are left out (a resource without delete)."""

    routes = [
        Route(url="{prefix}{trailing_slash}", mapping={"get": "list", "post": "create"}, name="{basename}-list",
              detail=False, initkwargs={"suffix": "List"}),
        Route(url="{prefix}/{lookup}{trailing_slash}",
              mapping={"get": "retrieve", "post": "update_by_post", "patch": "partial_update", "delete": "destroy"},
              name="{basename}-detail", detail=True, initkwargs={"suffix": "Instance"}),
    ]

    def __init__(self) -> None:
        super().__init__(trailing_slash=False, use_regex_path=False)

    def get_method_map(self, viewset: Any, method_map: dict[str, str]) -> dict[str, str]:
        unrouted = getattr(viewset, "unrouted_actions", ())
        return {method: action for method, action in super().get_method_map(viewset, method_map).items() if action not in unrouted}


def resource_urls(prefix: str, viewset: type[ResourceViewSet], name: str) -> list[URLPattern]:
    """The URL patterns of one resource (ResourceRouter), named `<name>-list` and `<name>-detail`."""
    router = ResourceRouter()
    router.register(prefix, viewset, basename=name)
    return router.urls


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
