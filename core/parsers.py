"""The API's JSON parser: DRF's, plus the refusals the database would otherwise turn into a 500.

A UTF-8 body is read by orjson first (a tenth of the standard library's time through DRF's
stream decoder). orjson reads every document it accepts as the standard library does, but for
two: an integer beyond 64 bits (orjson makes it a float), and nesting deeper than the standard
library's recursion allows (orjson takes 1,024 levels; DRF's way answers "nested too deeply"
from about 900). So a body orjson refuses, one with SHALLOW or more `[` and `{` (deep or not),
and one whose reading holds a float are read again DRF's way, and answer as DRF always has.
orjson refuses a lone surrogate itself, and NUL can only be written `\\u0000`: a body with
neither that nor a run of 19 digits (an integer that might not fit 64 bits) is taken as orjson
reads it, unwalked.
"""

from __future__ import annotations

import io
import re
from typing import Any

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from core.errors import Error

# How DRF answers a body that is not JSON; the words after the dash name what it tripped on.
BAD_JSON: Error = (400, "bad_request", "JSON parse error - Expecting value: line 1 column 1 (char 0)")


def check_text(value: Any) -> bool:
    """Every string (keys included) must be storable: valid Unicode (no lone surrogate from a
    `\\ud800` escape) and no NUL, which PostgreSQL text cannot hold. Iterative: depth is no risk.
    Whether the value holds a float."""
    todo, floats = [value], False
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            todo.extend(item.keys())
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise ParseError("JSON parse error - strings must not contain NUL characters")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ParseError("JSON parse error - strings must be valid Unicode (lone surrogate)") from None
        elif isinstance(item, float):
            floats = True
    return floats


UTF8 = ("utf-8", "utf8")
LONG_NUMBER = re.compile(rb"[0-9]{19}")
SHALLOW = 500  # fewer opening brackets than this cannot nest as deep as DRF's way refuses


class StrictJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        if (parser_context or {}).get("encoding", "utf-8").lower() in UTF8:
            raw = stream.read()
            if raw.count(b"[") + raw.count(b"{") >= SHALLOW:
                return self._drf(io.BytesIO(raw), media_type, parser_context)
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                pass
            else:
                if b"\\u0000" not in raw and not LONG_NUMBER.search(raw):
                    return data
                if not check_text(data):
                    return data
            stream = io.BytesIO(raw)
        return self._drf(stream, media_type, parser_context)

    def _drf(self, stream: Any, media_type: str | None, parser_context: dict | None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
        check_text(data)
        return data
