"""The route look-up shared by `GET /api/sbc/route`, `manage.py route` and the admin's test page."""

from __future__ import annotations

from django.db.models import IntegerField, Value
from django.db.models.functions import Length
from rest_framework.exceptions import ValidationError

from sbcrules.index import routing_index
from sbcrules.models import NumberRange, PortedNumber
from sbcrules.routing import Decision, decide
from sbcrules.validators import NUMBER_RE
from telecomx.ids import normalize_id

NUMBER_INVALID = "Number is invalid"


def serving_operator(number: str) -> str | None:
    """The CPS code of the operator serving `number`: its ported-number record, else the holder
    of the longest number range containing it. One indexed query (two primary-key probes)."""
    if not number.startswith("+45"):
        return None  # the portability data is Danish only
    prefixes = [number[:length] for length in range(4, len(number) + 1)]
    ported = PortedNumber.objects.order_by().filter(number=number).annotate(rank=Value(99, IntegerField())).values_list("operator_id", "rank")
    ranges = NumberRange.objects.order_by().filter(prefix__in=prefixes).annotate(rank=Length("prefix")).values_list("operator_id", "rank")
    best = ported.union(ranges, all=True).order_by("-rank").first()
    return best[0] if best else None


def clean_number(value: str | None, *, field: str, required: bool) -> str | None:
    """An E.164 number from a query string. A `+` sent unencoded arrives as a space (the spec's
    own example does that), so one leading space before the digits is read as the `+`."""
    if value is None or value == "":
        if required:
            raise ValidationError({field: [NUMBER_INVALID]})
        return None
    if value.startswith(" ") and value[1:].isdigit():
        value = "+" + value[1:]
    if not NUMBER_RE.match(value):
        raise ValidationError({field: [NUMBER_INVALID]})
    return value


def route_call(*, bnumber: str | None, anumber: str | None = None, customer: str | None = None, explain: bool = False) -> Decision:
    """Validate the inputs (422 as routing.md §4) and decide from this process's index."""
    errors: dict[str, list[str]] = {}
    numbers: dict[str, str | None] = {}
    for field, value, required in (("bnumber", bnumber, True), ("anumber", anumber, False)):
        try:
            numbers[field] = clean_number(value, field=field, required=required)
        except ValidationError as exc:
            errors.update(exc.detail)  # type: ignore[arg-type]
    customer_id = None
    if customer:
        customer_id = normalize_id(customer)
        if customer_id is None:
            errors["customer"] = ["Customer is invalid"]
    if errors:
        raise ValidationError(errors)
    assert numbers["bnumber"] is not None
    return decide(
        routing_index.current(), bnumber=numbers["bnumber"], anumber=numbers["anumber"],
        customer=customer_id, operator_of=serving_operator, explain=explain,
    )
