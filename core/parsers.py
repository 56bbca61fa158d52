"""The API's JSON parser: DRF's, plus the refusals the database would otherwise turn into a 500."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from core.errors import Error

# How DRF answers a body that is not JSON; the words after the dash name what it tripped on.
BAD_JSON: Error = (400, "bad_request", "JSON parse error - Expecting value: line 1 column 1 (char 0)")


def check_text(value: Any) -> None:
    """Every string (keys included) must be storable: valid Unicode (no lone surrogate from a
    `\\ud800` escape) and no NUL, which PostgreSQL text cannot hold. Iterative: depth is no risk."""
    todo = [value]
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


class StrictJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
        check_text(data)
        return data
