"""DK operators and number portability data (docs/api.md §8)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer, extend_schema_view
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import Access
from core.api import OffsetPage, ReadWritePermissions, ReadWriteViewSet
from core.errors import ApiError
from sbcrules.lookup import serving_operator
from sbcrules.models import DkOperator, PortedNumber
from sbcrules.serializers import DkNumberPageSerializer, DkNumberSerializer, DkOperatorSerializer
from sbcrules.validators import is_operator_code, normalize_dk_number


def paged(request: Request, queryset: QuerySet, key: str, render: Any) -> Response:
    page = OffsetPage(request, queryset)
    return Response(page.body(key, [render(item) for item in page.items]))


@extend_schema_serializer(many=False)  # a page object, not the plain array a list action would get
class DkOperatorPageSerializer(serializers.Serializer):
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    total = serializers.IntegerField()
    operators = DkOperatorSerializer(many=True)


PAGED = [OpenApiParameter("offset", int), OpenApiParameter("limit", int, description="1..500, default 100")]


@extend_schema_view(
    list=extend_schema(
        summary="List DK operators (paged)",
        parameters=[*PAGED, OpenApiParameter("filter", str, description="part of the name or code")],
        responses=DkOperatorPageSerializer,
    ),
    create=extend_schema(summary="Create a DK operator"),
    retrieve=extend_schema(summary="Get a DK operator"),
    partial_update=extend_schema(summary="Update a DK operator (PATCH)"),
)
class DkOperatorViewSet(ReadWriteViewSet):
    serializer_class = DkOperatorSerializer
    not_found = (404, "id", "Operator not found")
    read_permission = Access.DK_READ
    write_permission = Access.DK_WRITE

    def get_queryset(self) -> QuerySet[DkOperator]:
        return DkOperator.objects.order_by("id")

    def normalize_lookup(self, value: str) -> str | None:
        return value if is_operator_code(value) else None  # a malformed code never reaches the database

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        operators = self.get_queryset()
        text = request.query_params.get("filter", "").strip()
        if text:
            operators = operators.filter(Q(name__icontains=text) | Q(id__startswith=text))
        return paged(request, operators, "operators", lambda op: self.get_serializer(op).data)


def number_body(number: str) -> dict[str, Any]:
    ported = PortedNumber.objects.filter(number=number).values_list("operator_id", flat=True).first()
    operator = ported or serving_operator(number)
    if operator is None:
        raise ApiError(404, "number", "Number not found")
    return {"number": number, "operator": operator, "ported": ported is not None}


class DkNumberListView(APIView):
    """`GET /api/dk/number`: the ported numbers, paged."""

    permission_classes = [Access.DK_READ]

    @extend_schema(
        summary="List ported numbers (paged)", parameters=PAGED, responses=DkNumberPageSerializer, operation_id="dk_number_list"
    )
    def get(self, request: Request) -> Response:
        numbers = PortedNumber.objects.order_by("number")
        return paged(request, numbers, "numbers", lambda row: {"number": row.number, "operator": row.operator_id, "ported": True})


class DkNumberView(ReadWritePermissions, APIView):
    """`GET /api/dk/number/<NUMBER>`: who serves it; `POST ...?operator=<CPS>`: correct one number."""

    read_permission = Access.DK_READ
    write_permission = Access.DK_WRITE

    @extend_schema(summary="Which operator serves a Danish number", responses=DkNumberSerializer)
    def get(self, request: Request, number: str) -> Response:
        key = normalize_dk_number(number)
        if key is None:
            raise ApiError(404, "number", "Number not found")
        return Response(number_body(key))

    @extend_schema(
        summary="Set the operator serving a number (ports it)",
        parameters=[OpenApiParameter("operator", str, required=True, description="5-digit CPS code")],
        request=None, responses=DkNumberSerializer,
    )
    def post(self, request: Request, number: str) -> Response:
        key = normalize_dk_number(number)
        # A number is known when it is ported already or lies in a range someone holds;
        # correcting one that is not ported yet records it as ported.
        if key is None or (not PortedNumber.objects.filter(number=key).exists() and serving_operator(key) is None):
            raise ApiError(404, "number", "Number not found")
        operator = request.query_params.get("operator")
        if operator is None and isinstance(request.data, dict):
            operator = request.data.get("operator")
        if not is_operator_code(operator) or not DkOperator.objects.filter(pk=operator).exists():
            raise ApiError(422, "operator", "Operator is not valid", path="operator")
        with transaction.atomic():
            PortedNumber.objects.update_or_create(number=key, defaults={"operator_id": operator})
        return Response(number_body(key))
