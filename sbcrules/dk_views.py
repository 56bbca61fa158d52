"""DK operators and number portability data (docs/api.md §8)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema_serializer, extend_schema_view
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import Access
from core.api import BAD_PAGE, OffsetPage, ReadWritePermissions, ReadWriteViewSet
from core.docs import UPDATE, documented, field_errors
from core.errors import DENIED, MULTIPLE, ApiError, Error
from core.parsers import BAD_JSON
from core.serializers import NOT_OBJECT
from sbcrules.lookup import serving_operator
from sbcrules.models import DkOperator, PortedNumber
from sbcrules.serializers import DkNumberPageSerializer, DkNumberSerializer, DkOperatorSerializer
from sbcrules.validators import is_operator_code, normalize_dk_number


def paged(request: Request, queryset: QuerySet, key: str, render: Any) -> Response:
    page = OffsetPage(request, queryset)
    return Response(page.body(key, [render(item) for item in page.items]))


# a page object, not the plain array a list action would get
@extend_schema_serializer(many=False, description="One page of DK operators.")
class DkOperatorPageSerializer(serializers.Serializer):
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    total = serializers.IntegerField()
    operators = DkOperatorSerializer(many=True)


PAGED = [OpenApiParameter("offset", int), OpenApiParameter("limit", int, description="1..500, default 100")]

# --- what the schema tells clients (core.docs) ---
OPERATOR = {"_id": "01011", "name": "TDC", "address": "Teglholmsgade 1, 2450 København SV"}
NUMBER = {"number": "+4570305050", "operator": "01011", "ported": True}
NO_OPERATOR: Error = (404, "id", "Operator not found")
NO_NUMBER: Error = (404, "number", "Number not found")
OPERATOR_INVALID: Error = (422, "operator", "Operator is not valid")
OPERATOR_FIELDS = [*field_errors(DkOperatorSerializer, "_id", "name", "address"), MULTIPLE]
OPERATOR_UPDATE = f"Update a DK operator (its code cannot change). {UPDATE} Who: ADMIN."


@extend_schema_view(
    list=documented(
        summary="List DK operators (paged)",
        parameters=[*PAGED, OpenApiParameter("filter", str, description="part of the name or code")],
        responses=DkOperatorPageSerializer,
        description="The DK operators, by CPS code, paged; `filter` matches part of the name or the start of the code. "
        "Who: VIEWER and up.",
        response_example={"offset": 0, "limit": 100, "total": 1, "operators": [OPERATOR]}, errors=[DENIED, BAD_PAGE],
    ),
    create=documented(
        summary="Create a DK operator", description="Add a DK operator, keyed by its 5-digit CPS code. Who: ADMIN.",
        response_example=OPERATOR, request_example=OPERATOR,
        errors=[*OPERATOR_FIELDS, (409, "id", str(DkOperator._meta.pk.error_messages["unique"])), DENIED, BAD_JSON, NOT_OBJECT],
    ),
    retrieve=documented(summary="Get a DK operator", description="One DK operator. Who: VIEWER and up.",
                        response_example=OPERATOR, errors=[NO_OPERATOR, DENIED]),
    update_by_post=documented(description=OPERATOR_UPDATE, response_example={**OPERATOR, "name": "TDC NET"},
                              request_example={"name": "TDC NET"}, errors=[*OPERATOR_FIELDS, NO_OPERATOR, DENIED, BAD_JSON, NOT_OBJECT]),
    partial_update=documented(
        summary="Update a DK operator (PATCH)", description=OPERATOR_UPDATE, response_example={**OPERATOR, "address": ""},
        request_example={"address": None}, errors=[*OPERATOR_FIELDS, NO_OPERATOR, DENIED, BAD_JSON, NOT_OBJECT],
    ),
)
class DkOperatorViewSet(ReadWriteViewSet):
    serializer_class = DkOperatorSerializer
    unrouted_actions = ("destroy",)  # listed, read, created and updated: docs/api.md §8 offers no delete
    not_found = NO_OPERATOR
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
        raise ApiError(*NO_NUMBER)
    return {"number": number, "operator": operator, "ported": ported is not None}


class DkNumberListView(APIView):
    """`GET /api/dk/number`: the ported numbers, paged."""

    permission_classes = [Access.DK_READ]

    @documented(
        summary="List ported numbers (paged)", parameters=PAGED, responses=DkNumberPageSerializer, operation_id="dk_number_list",
        description="The ported Danish numbers and the operator serving each, paged. Who: VIEWER and up.",
        response_example={"offset": 0, "limit": 100, "total": 1, "numbers": [NUMBER]}, errors=[DENIED, BAD_PAGE],
    )
    def get(self, request: Request) -> Response:
        numbers = PortedNumber.objects.order_by("number")
        return paged(request, numbers, "numbers", lambda row: {"number": row.number, "operator": row.operator_id, "ported": True})


class DkNumberView(ReadWritePermissions, APIView):
    """`GET /api/dk/number/<NUMBER>`: who serves it; `POST ...?operator=<CPS>`: correct one number."""

    read_permission = Access.DK_READ
    write_permission = Access.DK_WRITE

    @documented(
        summary="Which operator serves a Danish number", responses=DkNumberSerializer,
        description="Which operator serves a Danish number (`+4570305050`, `4570305050` or `70305050`): its ported-number "
        "record, else the holder of its number range. Who: VIEWER and up.",
        response_example={**NUMBER, "ported": False}, errors=[NO_NUMBER, DENIED],
    )
    def get(self, request: Request, number: str) -> Response:
        key = normalize_dk_number(number)
        if key is None:
            raise ApiError(*NO_NUMBER)
        return Response(number_body(key))

    @documented(
        description="Correct one number: from now on `?operator=` (a CPS code) serves it. Who: ADMIN.",
        response_example=NUMBER, errors=[NO_NUMBER, OPERATOR_INVALID, DENIED],
        summary="Set the operator serving a number (ports it)",
        parameters=[OpenApiParameter("operator", str, required=True, description="5-digit CPS code")],
        request=None, responses=DkNumberSerializer,
    )
    def post(self, request: Request, number: str) -> Response:
        key = normalize_dk_number(number)
        # A number is known when it is ported already or lies in a range someone holds;
        # correcting one that is not ported yet records it as ported.
        if key is None or (not PortedNumber.objects.filter(number=key).exists() and serving_operator(key) is None):
            raise ApiError(*NO_NUMBER)
        operator = request.query_params.get("operator")
        if operator is None and isinstance(request.data, dict):
            operator = request.data.get("operator")
        if not is_operator_code(operator) or not DkOperator.objects.filter(pk=operator).exists():
            raise ApiError(*OPERATOR_INVALID, path="operator")
        with transaction.atomic():
            PortedNumber.objects.update_or_create(number=key, defaults={"operator_id": operator})
        return Response(number_body(key))
