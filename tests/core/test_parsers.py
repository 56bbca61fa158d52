"""core/parsers.py: the body read by orjson first reads exactly as DRF's own parser reads it."""

from __future__ import annotations

import io
import json

import pytest
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from core.parsers import StrictJSONParser


def parsed(parser: JSONParser, body: bytes, encoding: str = "utf-8") -> tuple[str, object]:
    try:
        return "ok", parser.parse(io.BytesIO(body), "application/json", {"encoding": encoding})
    except ParseError as exc:
        return "error", str(exc.detail)


@pytest.mark.parametrize("body", [
    b'{"callId": "a", "duration": 5, "additional": {"mvno": "x"}, "list": [1, -0, true, null]}',
    b"123456789012345678901234567890",  # beyond 64 bits: an int (orjson alone makes it a float)
    b'{"duration": -123456789012345678901234567890}',
    b"[1.5, 0.1, 1e5, 1E-7, 2.5e300]",
    b"1e400",  # the standard library's infinity (orjson refuses it)
    b'{"a": 1, "a": 2}',
    b'  {"\\u00e6\\u00f8\\u00e5": "\\ud83d\\ude00"} \n',
    b'"a\x7f"',
    b"[9223372036854775807, -9223372036854775808, 18446744073709551615, 18446744073709551616]",
    b"[0.1234567890123456789, 1234567890123456789.0]",
])
def test_a_body_reads_as_drfs_parser_reads_it(body):
    ours, drfs = parsed(StrictJSONParser(), body), parsed(JSONParser(), body)
    assert ours == drfs
    assert json.dumps(ours[1]) == json.dumps(drfs[1])  # the same types too (1 == 1.0, but not on the wire)


@pytest.mark.parametrize("body", [
    b"{not json", b"[1,]", b"NaN", b"\xef\xbb\xbf{}", b'{"a": 1}x', b'{"\xff": 1}', b'{"a": "\x01"}', b"",
])
def test_a_bad_body_is_refused_in_drfs_words(body):
    assert parsed(StrictJSONParser(), body) == parsed(JSONParser(), body)
    assert parsed(StrictJSONParser(), body)[0] == "error"


def test_another_charset_is_read_drfs_way():
    body = '{"name": "Søren"}'.encode("latin-1")
    assert parsed(StrictJSONParser(), body, "latin-1") == ("ok", {"name": "Søren"})


@pytest.mark.parametrize(("body", "message"), [
    (b'{"a": "x\\u0000"}', "JSON parse error - strings must not contain NUL characters"),
    (b'{"a": "\\ud800"}', "JSON parse error - strings must be valid Unicode (lone surrogate)"),
    (b'[1.5, "\\u0000"]', "JSON parse error - strings must not contain NUL characters"),
    (b'{"a\\u0000": 1}', "JSON parse error - strings must not contain NUL characters"),
])
def test_text_the_database_cannot_hold_is_refused(body, message):
    assert parsed(StrictJSONParser(), body) == ("error", message)


@pytest.mark.parametrize("body", [
    b"[" * 1000 + b"]" * 1000,  # orjson takes up to 1,024 levels; DRF's way refuses this
    b'{"a":' * 1010 + b"1" + b"}" * 1010,
    b"[" * 1000 + b'"\\u0000"' + b"]" * 1000,  # too deep is what it is told, not the NUL
])
def test_a_body_nested_deeper_than_drfs_way_reads_is_refused_as_before(body):
    assert parsed(StrictJSONParser(), body) == ("error", "JSON parse error - nested too deeply")


def test_many_brackets_that_nest_shallowly_still_read():
    body = json.dumps([{"callId": str(n), "additional": {}} for n in range(400)]).encode()
    assert parsed(StrictJSONParser(), body) == ("ok", json.loads(body))
