"""The six formats (docs/callevents.md §2) against golden files, with awkward values. Pure: no database."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from callnotify.formats import EventData, render, utc_timestamp

GOLDEN = Path(__file__).parent / "golden"
METHODS = ["POSTARGS", "POSTXML1", "POSTXML2", "POSTJSON", "GET1", "GET2"]

AWKWARD = EventData(
    event_id="6740a1b2c3d4e5f6a7b8c9d0", call_id="a&b<c>\"d'e@10.0.0.1;tag=ø x+y%20",
    sequence=2, customer="5f1e0a0b0c0d0e0f10111213", type="SIP", direction="INBOUND", state="ANSWERED",
    a_number="anonymous", b_number="+4570305050",
    timestamp=datetime(2026, 11, 22, 11, 15, tzinfo=timezone(timedelta(hours=1))),  # 10:15 UTC
    duration=None, cause="",
    additional={"divertedBy": "+4512345678", "sbcServer": 'sbc-1 <main> & "eu"', "sourcePeer": "Tëlenor Ø/Æ 日本",
                "destinationPeer": "", "mvno": "Mø & Co; a=b"},
)
HANGUP = EventData(
    event_id="6740a1b2c3d4e5f6a7b8c9d1", call_id="plain-call", sequence=3, customer="5f1e0a0b0c0d0e0f10111213",
    type="MVNO", direction="OUTBOUND", state="HANGUP", a_number="+4512345678", b_number="+4570305050",
    timestamp=datetime(2026, 11, 22, 10, 20, 5, 999000, tzinfo=timezone.utc), duration=0, cause="NORMAL_CLEARING",
)
CASES = {"awkward": AWKWARD, "hangup": HANGUP}
URL_QUERY = "key=s3cr%C3%A9t&x=1"


def wire_text(event: EventData, method: str) -> str:
    rendered = render(event, method, URL_QUERY)
    head = f"{rendered.http_method} {rendered.content_type or '-'} ?{rendered.query}\n"
    return head + rendered.body.decode("utf-8") + "\n"


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("method", METHODS)
def test_format_matches_golden_file(case: str, method: str) -> None:
    path = GOLDEN / f"{case}-{method}.txt"
    actual = wire_text(CASES[case], method)
    if os.environ.get("UPDATE_GOLDEN"):
        # A run that rewrites the golden files compares nothing: review the diff, then run again.
        path.write_text(actual, encoding="utf-8")
        pytest.skip(f"UPDATE_GOLDEN: rewrote {path.name}, not compared")
    assert actual == path.read_text(encoding="utf-8")


def test_xml_is_well_formed_and_carries_the_exact_values() -> None:
    root = ET.fromstring(render(AWKWARD, "POSTXML2").body)
    assert root.tag == "callEvent"
    assert root.findtext("callId") == AWKWARD.call_id
    assert root.findtext("timestamp") == "2026-11-22T10:15:00Z"
    assert root.find("duration") is None and root.find("cause") is None  # empty fields are left out
    assert root.findtext("additional/sbcServer") == 'sbc-1 <main> & "eu"'
    assert root.findtext("additional/sourcePeer") == "Tëlenor Ø/Æ 日本"
    assert root.find("additional/destinationPeer") is None


def test_postxml1_has_no_additional_element() -> None:
    assert ET.fromstring(render(AWKWARD, "POSTXML1").body).find("additional") is None


def test_json_nests_additional_and_keeps_numbers_numeric() -> None:
    document = json.loads(render(HANGUP, "POSTJSON").body)
    assert document["sequence"] == 3 and document["duration"] == 0
    assert "additional" not in document
    awkward = json.loads(render(AWKWARD, "POSTJSON").body)
    assert awkward["additional"]["mvno"] == "Mø & Co; a=b"
    assert awkward["callId"] == AWKWARD.call_id


def test_form_body_round_trips_basic_and_additional_fields() -> None:
    pairs = dict(parse_qsl(render(AWKWARD, "POSTARGS").body.decode(), strict_parsing=True))
    assert pairs["callId"] == AWKWARD.call_id
    assert pairs["sourcePeer"] == "Tëlenor Ø/Æ 日本"
    assert pairs["mvno"] == "Mø & Co; a=b"


@pytest.mark.parametrize(("method", "has_additional"), [("GET1", False), ("GET2", True)])
def test_get_keeps_the_urls_own_arguments_first(method: str, has_additional: bool) -> None:
    query = render(AWKWARD, method, URL_QUERY).query
    assert query.startswith(URL_QUERY + "&eventId=")
    pairs = dict(parse_qsl(query, strict_parsing=True))
    assert pairs["key"] == "s3crét" and pairs["callId"] == AWKWARD.call_id
    assert ("sbcServer" in pairs) is has_additional


def test_get_without_url_arguments_has_only_the_events() -> None:
    assert render(HANGUP, "GET1", "").query.startswith("eventId=")


@pytest.mark.parametrize("method", METHODS)
def test_line_payload_is_one_line(method: str) -> None:
    line = render(AWKWARD, method).line
    assert b"\n" not in line and b"\r" not in line


def test_naive_timestamps_are_taken_as_utc() -> None:
    assert utc_timestamp(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05Z"


@pytest.mark.parametrize(("value", "text"), [
    (datetime(1, 1, 1, tzinfo=timezone.utc), "0001-01-01T00:00:00Z"),  # four-digit years, always
    (datetime(999, 12, 31, 23, 59, 59, tzinfo=timezone.utc), "0999-12-31T23:59:59Z"),
    (datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc), "9999-12-31T23:59:59Z"),
])
def test_timestamps_keep_four_digit_years(value: datetime, text: str) -> None:
    assert utc_timestamp(value) == text


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError):
        render(HANGUP, "PUTJSON")
