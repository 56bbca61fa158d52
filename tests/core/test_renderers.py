"""core/renderers.py: the same bytes as DRF's JSON renderer, for every kind of value an answer holds
(floats in an equal notation; NaN as null where DRF fails)."""

from __future__ import annotations

import decimal
import ipaddress
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from core.renderers import FastJSONRenderer

CET = timezone(timedelta(hours=1))
VALUES = [
    {"_id": "6b0435fcdbc6a327465cc9cb", "n": 5, "ok": True, "none": None, "f": 0.25, "list": [1, "a", None]},
    {"at": datetime(2026, 11, 22, 10, 15, tzinfo=timezone.utc), "micro": datetime(2026, 11, 22, 10, 15, 0, 120000, tzinfo=timezone.utc)},
    {"local": datetime(2026, 11, 22, 10, 15, tzinfo=CET), "naive": datetime(2026, 11, 22, 10, 15), "day": date(2026, 11, 22)},
    {"lazy": gettext_lazy("Customer not found"), "decimal": decimal.Decimal("1.5"), "uuid": uuid.UUID(int=5),
     "ip": ipaddress.ip_address("192.0.2.1"), "delta": timedelta(seconds=90)},
    {"text": "æøå \u2028 line \u2029 para \x01 \n \" \\ / 😀"},
    {"big": 2**70, "negative": -(2**70)},
    {1: "an int key"},
    [{"tuple": (1, 2)}, [], {}],
    "plain",
    None,
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_the_same_bytes_as_drf(value: object) -> None:
    assert FastJSONRenderer().render(value) == JSONRenderer().render(value)


def test_an_indented_answer_is_drfs() -> None:
    value = {"a": [1, 2]}
    media = "application/json; indent=2"
    assert FastJSONRenderer().render(value, media) == JSONRenderer().render(value, media) == b'{\n  "a": [\n    1,\n    2\n  ]\n}'


@pytest.mark.parametrize("value", [1e-05, 5e-7, 1.5e300, 123456789.125])
def test_floats_are_the_same_numbers(value: float) -> None:
    import json

    assert json.loads(FastJSONRenderer().render({"x": value})) == json.loads(JSONRenderer().render({"x": value}))


def test_nan_is_null_where_drf_fails() -> None:
    assert FastJSONRenderer().render({"x": float("nan"), "y": float("inf")}) == b'{"x":null,"y":null}'
    with pytest.raises(ValueError):
        JSONRenderer().render({"x": float("nan")})
