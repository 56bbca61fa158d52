"""Lists at the speed of the data: a serializer's wire form built from `values_list` rows.

DRF builds each item of a list as a model instance and then asks every field of the serializer
for it (get_attribute, to_representation, the empty checks): on a list of 1,000 rules that was
most of the request. `ValuesRepresentation` reads the same fields from the serializer once per
class (its `Plan`) and answers a list from plain rows:

- a field whose source is a column (`id`, `peer_id`) or a column across a foreign key
  (`event.state` reads `event__state`) is read in the same statement;
- a value is answered as DRF would answer it: None stays None, and the field's own
  `to_representation` converts the rest, except for the fields known to answer a database value
  unchanged (text, choices, whole numbers, booleans), which are taken as they come;
- fields listed in `values_skip` are left out (a write-only secret, or something the serializer
  adds for the whole page at once in `finish_rows`, such as an endpoint's health).

A whole list (no paging asked for, no `indent=` in `Accept`) of a serializer that adds nothing
per page is streamed (`stream`): rows are read STREAM_CHUNK at a time from a database cursor
and written as they come, so a switch or a sync job reading 200,000 rules holds one chunk in
memory, not the list.

The serializer stays the one description of the wire form (the schema is made from it), and
tests/core/test_representation.py holds each such list to the bytes DRF's own path answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from typing import Any, ClassVar

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from rest_framework import fields as drf_fields
from rest_framework import serializers

STREAM_CHUNK = 2000

# to_representation methods that answer a value read from its column unchanged
_UNCHANGED = {
    drf_fields.CharField.to_representation,
    drf_fields.ChoiceField.to_representation,
    drf_fields.IntegerField.to_representation,
    drf_fields.BooleanField.to_representation,
}


class Plan:
    """(wire name, query lookup, converter or None) for each field a list row shows."""

    def __init__(self, serializer: serializers.ModelSerializer, skip: Iterable[str]) -> None:
        model = serializer.Meta.model
        self.names: list[str] = []
        self.lookups: list[str] = []
        self.converters: list[Any] = []
        for field in serializer._readable_fields:
            if field.field_name in skip:
                continue
            if isinstance(field, serializers.SerializerMethodField | serializers.BaseSerializer):
                raise TypeError(f"{type(serializer).__name__}.{field.field_name}: not a column; list it in values_skip")
            lookup = "__".join(field.source_attrs)
            model_field = model._meta.get_field(field.source_attrs[0]) if len(field.source_attrs) == 1 else None
            if model_field is not None and model_field.attname == lookup and model_field.is_relation:
                lookup = model_field.attname  # `peer_id`: the column, not the related row
            self.names.append(field.field_name)
            self.lookups.append(lookup)
            self.converters.append(None if type(field).to_representation in _UNCHANGED else field.to_representation)

    def values(self, queryset: QuerySet) -> QuerySet:
        return queryset.values_list(*self.lookups)

    def rows(self, rows: Iterable[tuple]) -> list[dict[str, Any]]:
        names, converters = self.names, self.converters
        if not any(converters):
            return [dict(zip(names, row, strict=True)) for row in rows]
        return [
            {name: value if convert is None or value is None else convert(value)
             for name, value, convert in zip(names, row, converters, strict=True)}
            for row in rows
        ]


class ValuesRepresentation:
    """A ModelSerializer mixin: its lists are answered from `values_list` rows by its `plan()`
    (core.api.ResourceViewSet.list), plus what `finish_rows` adds to a page."""

    values_skip: ClassVar[tuple[str, ...]] = ()
    _plans: ClassVar[dict[type, Plan]] = {}

    def plan(self) -> Plan:
        cls = type(self)
        found = ValuesRepresentation._plans.get(cls)
        if found is None:
            # From a serializer of its own, without this one's context: the plan outlives the request.
            found = ValuesRepresentation._plans[cls] = Plan(cls(), self.values_skip)  # type: ignore[call-arg]
        return found

    def finish_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """What the serializer adds to a page of rows (nothing unless it says so)."""
        return rows


def adds_per_page(serializer: ValuesRepresentation) -> bool:
    return type(serializer).finish_rows is not ValuesRepresentation.finish_rows


def stream(plan: Plan, values: QuerySet, render: Any) -> StreamingHttpResponse:
    """The whole list (`plan.values(…)`) as a JSON array, rendered (`render(rows) -> bytes`, the
    API's renderer) a chunk of rows at a time: the same bytes as rendering the list at once.

    The first chunk is read before the answer starts, so a database that is away fails the
    request as any other (503 `unavailable`); only a failure part-way through a long list can
    end the connection before the closing `]`."""
    rows = values.iterator(chunk_size=STREAM_CHUNK)
    first_batch = list(islice(rows, STREAM_CHUNK))

    def chunks() -> Iterable[bytes]:
        yield b"["
        batch, first = first_batch, True
        while batch:
            yield (b"" if first else b",") + render(plan.rows(batch))[1:-1]
            batch, first = list(islice(rows, STREAM_CHUNK)), False
        yield b"]"

    return StreamingHttpResponse(chunks(), content_type="application/json")
