"""CallEventSerializer.quick, the fast check a batch runs on each event, against run_validation (DRF's
fields and the model's full_clean): whatever quick accepts, run_validation accepts with the same
values; whatever it declines goes to run_validation, which words the documented error. And quick
does accept the usual well-formed events, or the batch would pay for both."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError

from callnotify.serializers import CallEventSerializer

CUSTOMER = "6b125f60a2d3da6ba8772a06"
ELSEWHERE = "6b125f60a2d3da6ba8772a07"  # well formed, not one the poster reaches
GONE = object()  # the property left out

BASE: dict[str, Any] = {
    "callId": "a84c4f1e-5c38@192.0.2.10", "customer": CUSTOMER, "type": "SIP", "direction": "INBOUND",
    "state": "HANGUP", "aNumber": "+4512345678", "bNumber": "+4570305050", "timestamp": "2026-11-22T10:15:00Z",
    "duration": 65, "cause": "NORMAL_CLEARING",
    "additional": {"sbcServer": "sbc1", "sourcePeer": "carrier-a", "unknown": "dropped"},
}

VARIANTS: dict[str, list[Any]] = {
    "callId": ["x", "x" * 255, "x" * 256, " abc", "abc ", "a\tb", "a\nb", "", "æøå 漢字", "\u2028", 5, None, ["a"], {"a": 1},
               True, GONE],
    "customer": [CUSTOMER.upper(), f" {CUSTOMER}", f"{CUSTOMER}\n", ELSEWHERE, "nope", "", 5, None, [CUSTOMER], GONE],
    "type": ["MVNO", "sip", "SIP ", "", None, 1, ["SIP"], GONE],
    "direction": ["OUTBOUND", "inbound", "", None, True, GONE],
    "state": ["RINGING", "ANSWERED", "Hangup", "", None, 3, GONE],
    "aNumber": ["anonymous", "Anonymous", "+0123", "4512345678", "+451234567890123", "+4512345678901234", "+4512345678\n",
                " +4512345678", "+45 12345678", "", None, 4512345678, GONE],
    "bNumber": ["+4570305050", "anonymous", "+1", "+12", "+4570305050 ", "", None, GONE],
    "timestamp": ["2026-11-22T10:15:00+01:00", "2026-11-22T10:15:00.123456Z", "2026-11-22T10:15:00", "2026-11-22 10:15",
                  "0099-01-01T00:00:00Z", "99-01-01T00:00:00Z", "20261122T101500Z", "2026-02-30T00:00:00Z",
                  " 2026-11-22T10:15:00Z", "", None, 1732270500, GONE],
    "duration": [0, 1, 10**8, 10**8 + 1, -1, 2**40, 5.0, "5", True, False, None, [5], GONE],
    "cause": ["", " ", "x" * 64, "x" * 65, " NORMAL", "NORMAL ", "a\x01b", None, 5, GONE],
    "additional": [{}, {"unknown": 1}, {"sbcServer": ""}, {"sbcServer": 5}, {"sbcServer": "x" * 255},
                   {"sbcServer": "x" * 256}, {"sbcServer": "a\nb"}, {"mvno": None}, [], None, "x", 5, GONE],
}
# Variants that are the usual well-formed event: quick must take them itself.
QUICK = [("callId", "x"), ("callId", "x" * 255), ("callId", "æøå 漢字"), ("type", "MVNO"), ("direction", "OUTBOUND"),
         ("state", "RINGING"), ("aNumber", "anonymous"), ("timestamp", "2026-11-22T10:15:00+01:00"),
         ("timestamp", "2026-11-22T10:15:00.123456Z"), ("duration", 0), ("duration", None), ("duration", GONE),
         ("cause", ""), ("cause", GONE), ("additional", {}), ("additional", GONE), ("additional", {"unknown": 1}),
         ("customer", CUSTOMER.upper())]


def both(item: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    checker = CallEventSerializer(context={"reachable": {CUSTOMER: None}})
    quick = CallEventSerializer.quick(item, {CUSTOMER: None})
    try:
        full = dict(checker.run_validation(item))
    except ValidationError:
        full = None
    return quick, full


def with_value(name: str, value: Any) -> dict[str, Any]:
    item = dict(BASE)
    if value is GONE:
        del item[name]
    else:
        item[name] = value
    return item


def test_quick_takes_the_usual_event_and_answers_what_run_validation_answers() -> None:
    quick, full = both(BASE)
    assert quick is not None and quick == full
    assert quick["additional"] == {"sbcServer": "sbc1", "sourcePeer": "carrier-a"}


@pytest.mark.parametrize(("name", "value"), [(n, v) for n, values in VARIANTS.items() for v in values],
                         ids=lambda v: repr(v)[:30])
def test_quick_never_accepts_what_run_validation_refuses_nor_answers_differently(name: str, value: Any) -> None:
    quick, full = both(with_value(name, value))
    if any(n == name and (v is value or (v is not GONE and value is not GONE and type(v) is type(value) and v == value))
           for n, v in QUICK):
        assert quick is not None
    if quick is not None:
        assert quick == full


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
                    max_leaves=6)


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(sorted(VARIANTS)), value=JSON | st.sampled_from([v for vs in VARIANTS.values() for v in vs if v is not GONE]))
def test_any_value_of_any_property_is_answered_alike(name: str, value: Any) -> None:
    quick, full = both(with_value(name, value))
    if quick is not None:
        assert quick == full
