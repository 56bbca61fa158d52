"""Every API answer the suite receives is checked against the published OpenAPI schema.

The test clients of conftest.py validate each JSON response under /api/ against the schema of
its operation and status (exact status, else 4XX/5XX), so a new endpoint or field is covered
without writing anything. The check is strict where the published schema is lenient on purpose:
an object may not carry properties its schema does not declare, so "the server returns a field
the schema does not know" fails as surely as "the schema requires a field the server omits".
The schema is generated once per test session and each response schema compiled once
(jsonschema-rs: a check costs microseconds). A second, independent validator, openapi-core,
checks every answer too, as strict clients read the schema.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from typing import Any

import jsonschema_rs
from django.http import HttpResponse

NOT_VALIDATED = ("/api/schema", "/api/docs")
# drf-spectacular's generator keeps state in globals: tests whose threads post concurrently must
# not build the schema twice at once (functools.cache alone lets both threads in).
_BUILDING = threading.Lock()


def _strict(node: Any) -> Any:
    """OpenAPI → JSON Schema, stricter: objects get closed (a 3.0 `nullable` would become a null alternative)."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items() if key not in ("nullable", "example", "examples")}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def published_schema() -> dict[str, Any]:
    """The schema as /api/schema/ serves it (generated once)."""
    with _BUILDING:
        return _published_schema()


@functools.cache
def _published_schema() -> dict[str, Any]:
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


@functools.cache
def _routes() -> list[tuple[re.Pattern[str], str]]:
    routes = []
    for template in published_schema()["paths"]:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        routes.append((re.compile(f"^{pattern}/?$"), template))
    # Literal segments win over parameters (`/api/sbc/rule/x` vs a hypothetical `/api/sbc/{kind}/x`).
    routes.sort(key=lambda route: route[1].count("{"))
    return routes


@functools.cache
def _validator(ref: str) -> jsonschema_rs.Draft202012Validator:
    schema = _resolve(ref)["content"]["application/json"]["schema"]
    root = {**_strict(schema), "components": _strict(published_schema()["components"])}
    return jsonschema_rs.Draft202012Validator(root)


def response_ref(method: str, path: str, status: int) -> str | None:
    """JSON pointer of the schema's response object for this call; None if none applies."""
    paths = published_schema()["paths"]
    template = next((t for pattern, t in _routes() if pattern.match(path)), None)
    operation = paths.get(template, {}).get(method.lower()) if template else None
    if operation is None:
        # An unknown route or method: only the generic error body can describe it.
        return "#/components/responses/Error" if status >= 400 else None
    responses = operation["responses"]
    for key in (str(status), f"{str(status)[0]}XX", "default"):
        if key in responses:
            escaped = template.replace("~", "~0").replace("/", "~1")
            return f"#/paths/{escaped}/{method.lower()}/responses/{key}"
    return None


def whole(response: HttpResponse) -> HttpResponse:
    """A streamed answer (a whole rule list) read to its end, as a client reads it: the same
    status, headers and test attributes, with `content` (so `.json()` works as for any answer)."""
    if not response.streaming:
        return response
    answer = HttpResponse(b"".join(response.streaming_content), status=response.status_code)
    for header, value in response.items():
        answer[header] = value
    answer.streamed = True  # type: ignore[attr-defined]
    for name in ("wsgi_request", "request", "client", "templates", "context", "resolver_match", "redirect_chain"):
        if hasattr(response, name):
            setattr(answer, name, getattr(response, name))
    if hasattr(response, "client"):
        answer.json = functools.partial(response.client._parse_json, answer)  # type: ignore[attr-defined]
    return answer  # (reading it to the end closed it, as a WSGI server does)


def check_response(method: str, path: str, response: HttpResponse) -> None:
    if not path.startswith("/api/") or path.startswith(NOT_VALIDATED) or response.status_code == 304:
        return
    if method == "OPTIONS" and response.status_code == 200:
        return  # DRF's self-description of a view, not part of the API's contract
    where = f"{method} {path} → {response.status_code}"
    ref = response_ref(method, path, response.status_code)
    assert ref is not None, f"{where}: the schema documents no such answer"
    is_json = response.get("Content-Type", "").startswith("application/json")
    if ref == "#/components/responses/Error":
        validator = _error_validator()
    else:
        spec = _resolve(ref)
        if "content" not in spec:
            assert not response.content, f"{where}: the schema documents no body, the server sent one"
            return
        assert is_json, f"{where}: the schema documents a JSON body, the server sent {response.get('Content-Type')}"
        validator = _validator(ref)
    body = json.loads(response.content)
    if response.status_code >= 400:
        _check_error_is_documented(where, method, path, response.status_code, body)
    errors = list(validator.iter_errors(body))
    assert not errors, f"{where}: the answer contradicts the schema ({ref}):\n" + "\n".join(
        f"  at {'/'.join(map(str, e.instance_path)) or '(body)'}: {e.message}" for e in errors[:5]
    )
    if ref != "#/components/responses/Error" and getattr(response, "wsgi_request", None) is not None:
        _strict_validator_accepts(where, response)


_OPENAPI: list[Any] = []


def _openapi() -> Any:
    schema = published_schema()
    with _BUILDING:
        if not _OPENAPI:
            from openapi_core import OpenAPI

            _OPENAPI.append(OpenAPI.from_dict(schema))
        return _OPENAPI[0]


def _strict_validator_accepts(where: str, response: HttpResponse) -> None:
    """A second, independent check by a strict OpenAPI validator (openapi-core), as clients
    generated or validated against the schema see it: what it refuses, they refuse too."""
    from openapi_core.contrib.django import DjangoOpenAPIRequest, DjangoOpenAPIResponse

    try:
        request = DjangoOpenAPIRequest(response.wsgi_request)
    except ValueError:
        return  # a request no HTTP client can send (a newline in a header), made only by tests of such input
    result = _openapi().unmarshal_response(request, DjangoOpenAPIResponse(response))
    assert not result.errors, f"{where}: openapi-core refuses the answer: " + "; ".join(
        f"{error}: {getattr(error, '__cause__', None) or ''}" for error in result.errors)


# Statuses an operation must list with their codes; others (405, 413, 415, 5xx) are generic.
SPECIFIC_STATUSES = {400, 401, 403, 404, 409, 422, 429}
# Messages whose words vary with the input: a documented one stands for all it matches.
VARYING_MESSAGES = [re.compile(pattern) for pattern in (
    r"JSON parse error - .+",  # DRF names what it tripped on
    r"\w+ must be a whole number from \d+ to \d+",  # offset and limit
    r"\w+ must be an ISO 8601 time",  # since and until
    r"Delivery is [A-Z]+: only a FAILED delivery can be retried",
)]
# Refused before any view, for every path (core.errors.ApiErrorMiddleware).
GENERIC_MESSAGES = {"Query parameters must not contain NUL characters"}


def documented_errors(operation: dict[str, Any]) -> dict[int, list[tuple[str, str]]]:
    """status → [(code, message)] an operation documents: one example per error (core.docs)."""
    table: dict[int, list[tuple[str, str]]] = {}
    for status, response in operation["responses"].items():
        if status.isdigit() and int(status) >= 400:
            examples = response.get("content", {}).get("application/json", {}).get("examples", {})
            table[int(status)] = [(e["value"]["error"]["code"], e["summary"]) for e in examples.values()]
    return table


def _same_message(message: str, documented: str) -> bool:
    return message == documented or any(p.fullmatch(message) and p.fullmatch(documented) for p in VARYING_MESSAGES)


def _check_error_is_documented(where: str, method: str, path: str, status: int, body: Any) -> None:
    template = next((t for pattern, t in _routes() if pattern.match(path)), None)
    operation = published_schema()["paths"].get(template, {}).get(method.lower()) if template else None
    if operation is None or status not in SPECIFIC_STATUSES:
        return
    entries = documented_errors(operation).get(status, [])
    codes = [code for code, _message in entries]
    error = body.get("error", {}) if isinstance(body, dict) else {}
    code, message = error.get("code"), error.get("message")
    assert code in codes, f"{where}: error code {code!r} is not among those {operation['operationId']} documents for {status}: {codes}"
    if message in GENERIC_MESSAGES:
        return
    messages = [documented for known, documented in entries if known == code]
    assert any(_same_message(message, documented) for documented in messages), (
        f"{where}: error message {message!r} is not among those {operation['operationId']} documents for {status} "
        f"{code!r}: {messages}")


def _resolve(ref: str) -> dict[str, Any]:
    target: Any = published_schema()
    for part in ref.split("/")[1:]:
        target = target[part.replace("~1", "/").replace("~0", "~")]
    return target


@functools.cache
def _error_validator() -> jsonschema_rs.Draft202012Validator:
    schema = published_schema()
    root = {"$ref": "#/components/schemas/Error", "components": _strict(schema["components"])}
    return jsonschema_rs.Draft202012Validator(root)


class SchemaValidatingMixin:
    """For Django's and DRF's test clients: every /api/ answer is checked against the schema."""

    def request(self, **request: Any) -> HttpResponse:
        response = whole(super().request(**request))  # type: ignore[misc]
        check_response(request["REQUEST_METHOD"], request["PATH_INFO"], response)
        return response
