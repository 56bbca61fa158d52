"""The route look-up shared by `GET /api/sbc/route`, `manage.py route` and the admin's test page.

Bad input is a Django ValidationError with a message per parameter (docs/api.md §9): the API
answers it as 422 (core.errors), the admin shows it on its form, the command prints it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.db import connection

from core import outage
from core.ids import normalize_id
from sbcrules.counts import routing_counts
from sbcrules.index import routing_index
from sbcrules.models import NumberRange, PortedNumber
from sbcrules.routing import Decision, decide, parse_address
from sbcrules.trunks import SOURCE_INVALID
from sbcrules.validators import NUMBER_RE

NUMBER_INVALID = "Number is invalid"
CUSTOMER_INVALID = "Customer is invalid"
UNKNOWN_SOURCE = "unknown_source"  # no active trunk holds the caller's address: the switch answers 403


@lru_cache(maxsize=16)
def _operator_sql(prefix_count: int) -> str:
    ported, ranges = PortedNumber._meta.db_table, NumberRange._meta.db_table
    placeholders = ", ".join(["%s"] * prefix_count)
    return (
        f"SELECT operator_id FROM (SELECT operator_id, 99 AS rank FROM {ported} WHERE number = %s"
        f" UNION ALL SELECT operator_id, LENGTH(prefix) AS rank FROM {ranges} WHERE prefix IN ({placeholders}))"
        " AS candidates ORDER BY rank DESC LIMIT 1"
    )


def serving_operator(number: str) -> str | None:
    """The CPS code of the operator serving `number`: its ported-number record, else the holder
    of the longest number range containing it. One query (primary-key probes only).

    Plain SQL because this runs on the look-up path: building the same query with the ORM
    costs several times more than the query itself.
    """
    if not number.startswith("+45"):
        return None  # the portability data is Danish only
    prefixes = [number[:length] for length in range(4, len(number) + 1)]
    if outage.database.is_open():
        outage.mark_degraded("database")
        return None  # the database is away: "operator unknown", and the next step of the precedence decides
    try:
        with connection.cursor() as cursor:
            cursor.execute(_operator_sql(len(prefixes)), [number, *prefixes])
            row = cursor.fetchone()
    except Exception as exc:
        if not outage.is_database_unreachable(exc):
            raise
        outage.database.trip()
        outage.mark_degraded("database")
        return None
    return row[0] if row else None


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


def route_call(
    *, bnumber: str | None, anumber: str | None = None, customer: str | None = None, source: str | None = None,
    reaches: Callable[[str], bool] | None = None, explain: bool = False,
) -> Decision:
    """Validate the inputs (ValidationError, answered 422 as docs/api.md §9) and decide from this process's index.

    With `source` (the address a call came from) the trunk holding it decides the customer
    (docs/sbcrules.md, "Trunks"): `customer` then counts only for a trusted trunk, and only for a
    customer that trunk's customer reaches; otherwise it is ignored, malformed or not. No trunk,
    or one whose customer the caller may not see (`reaches`), answers `unknown_source`.
    """
    errors: dict[str, list[str]] = {}
    numbers: dict[str, str | None] = {}
    for field, value, required in (("bnumber", bnumber, True), ("anumber", anumber, False)):
        try:
            numbers[field] = clean_number(value, field=field, required=required)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    customer_id = None
    if source is not None:
        if parse_address(source) is None:
            errors["source"] = [SOURCE_INVALID]
    elif customer:
        customer_id = normalize_id(customer)
        if customer_id is None:
            errors["customer"] = [CUSTOMER_INVALID]
    if errors:
        raise ValidationError(errors)
    assert numbers["bnumber"] is not None
    index = routing_index.current()
    trunk = None
    if source is not None:
        trunk = index.sources.find(source)
        if trunk is None or (reaches is not None and not reaches(trunk.customer)):
            decision = Decision(peer=None, rule=None, reason=UNKNOWN_SOURCE, why=(f"no active trunk holds {source}",))
            routing_counts.add(decision.reason)
            return decision
        customer_id = trunk.customer
        wanted = normalize_id(customer) if customer and trunk.trust_customer_header else None
        if wanted is not None and (trunk.reach is None or wanted in trunk.reach):
            customer_id = wanted
    decision = decide(
        index, bnumber=numbers["bnumber"], anumber=numbers["anumber"],
        customer=customer_id, operator_of=serving_operator, explain=explain, trunk=trunk,
    )
    routing_counts.add(decision.reason)  # for /api/metrics and the dashboard
    return decision

