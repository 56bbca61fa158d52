"""The six payload formats (docs/callevents.md §2): pure functions, event data in, request parts out.

No ORM here: `EventData` is built from a stored event by delivery.py, and from a sample by the
test endpoint. `render(event, method, url_query)` gives everything a transport needs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import quote, quote_plus, urlencode

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
FORM = "application/x-www-form-urlencoded"
XML = "application/xml; charset=utf-8"
JSON = "application/json"
# Characters XML 1.0 cannot carry even escaped; the API refuses them, this is the last line.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class EventData:
    event_id: str
    call_id: str
    sequence: int
    customer: str
    type: str
    direction: str
    state: str
    a_number: str
    b_number: str
    timestamp: datetime
    duration: int | None = None
    cause: str = ""
    additional: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rendered:
    """One event in one format. `body` is what http POSTs; `line` what tcp/udp send."""

    http_method: str  # "GET" or "POST"
    content_type: str | None
    body: bytes  # empty for GET
    query: str  # the whole query string to request: the URL's own arguments, then the event's (GET)
    line: bytes  # the payload as one line, no line break


def utc_timestamp(value: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ`; naive datetimes are taken as UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return f"{value.year:04d}-{value:%m-%dT%H:%M:%S}Z"  # strftime writes year 1 as "1"


def basic_fields(event: EventData) -> list[tuple[str, str | int]]:
    """The basic set in document order; duration and cause only when present."""
    fields: list[tuple[str, str | int]] = [
        ("eventId", event.event_id),
        ("callId", event.call_id),
        ("sequence", event.sequence),
        ("customer", event.customer),
        ("type", event.type),
        ("direction", event.direction),
        ("state", event.state),
        ("aNumber", event.a_number),
        ("bNumber", event.b_number),
        ("timestamp", utc_timestamp(event.timestamp)),
    ]
    if event.duration is not None:
        fields.append(("duration", event.duration))
    if event.cause:
        fields.append(("cause", event.cause))
    return fields


def additional_fields(event: EventData) -> list[tuple[str, str]]:
    return [(key, value) for key, value in event.additional.items() if value != ""]


def _xml_text(value: str | int) -> str:
    text = _XML_ILLEGAL.sub("", str(value))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;").replace("'", "&apos;")


def _xml_elements(fields: list[tuple[str, str | int]]) -> str:
    return "".join(f"<{name}>{_xml_text(value)}</{name}>" for name, value in fields if value != "")


def to_xml(event: EventData, *, with_additional: bool) -> str:
    inner = _xml_elements(basic_fields(event))
    extra = additional_fields(event)
    if with_additional and extra:
        inner += f"<additional>{_xml_elements(list(extra))}</additional>"
    return f"{XML_DECLARATION}<callEvent>{inner}</callEvent>"


def to_json(event: EventData) -> str:
    document: dict[str, object] = dict(basic_fields(event))
    extra = additional_fields(event)
    if extra:
        document["additional"] = dict(extra)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def form_encode(fields: list[tuple[str, str | int]]) -> str:
    """application/x-www-form-urlencoded, UTF-8 (spaces as `+`)."""
    return urlencode(fields, quote_via=quote_plus)


def query_encode(fields: list[tuple[str, str | int]]) -> str:
    """URL query arguments, UTF-8, RFC 3986 percent-encoding (spaces as `%20`)."""
    return urlencode(fields, quote_via=quote)


def _join_query(own: str, added: str) -> str:
    return f"{own}&{added}" if own and added else own or added


def render(event: EventData, method: str, url_query: str = "") -> Rendered:
    """The event in `method` (POSTARGS, POSTXML1, POSTXML2, POSTJSON, GET1, GET2)."""
    basic, extra = basic_fields(event), additional_fields(event)
    if method == "POSTARGS":
        text = form_encode(basic + extra)
        return Rendered("POST", FORM, text.encode(), url_query, text.encode())
    if method in ("POSTXML1", "POSTXML2"):
        text = to_xml(event, with_additional=method == "POSTXML2")
        return Rendered("POST", XML, text.encode(), url_query, text.encode())
    if method == "POSTJSON":
        text = to_json(event)
        return Rendered("POST", JSON, text.encode(), url_query, text.encode())
    if method in ("GET1", "GET2"):
        args = query_encode(basic if method == "GET1" else basic + extra)
        return Rendered("GET", None, b"", _join_query(url_query, args), args.encode())
    raise ValueError(f"unknown method {method!r}")
