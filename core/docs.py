"""What the OpenAPI schema tells a client about an operation, written at its view:

    @documented(summary="…", description="…", response_example={…}, request_example={…},
                errors=[NOT_FOUND, *field_errors(…)])

`documented` is `extend_schema` plus the operation's description for clients, an example of its
request and of its success answer, and every error it can answer, each as (status, code,
message) taken from where the code raises it (a model field's documented message, a validator's
constant, a view's own error tuple), never typed again here. core.schema.TelecomXAutoSchema renders
them into the operation: the description, the examples, and one response per error status with
an example body for each error; operations that need a login also document the login errors of
their authentication classes (`documented_errors`), and every operation the generic 4XX and 5XX.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Model
from drf_spectacular.utils import extend_schema

from core.errors import Error
from core.messages import message_of, model_field

# The private key a documented operation carries its docs under until the schema renders them.
DOCS = "x-telecomx-docs"
NONE = object()  # no example given (a request body or answer of `null` is an example too)
# Ids the examples use (24 hex, as every object id).
EXAMPLE_CUSTOMER = "6b0435f61e325f562a0a3d34"
EXAMPLE_EMPLOYEE = "6b0435f71e325f562a0a3d36"
# How the resource style of core.api behaves, in the words of the operations that follow it.
UPDATE = "Only the properties sent change (POST and PATCH do the same)."
PAGING = ("Add `?offset=` and/or `?limit=` (1..500, default 100) to get one page: the answer stays a plain array, "
          "with the whole list's size in `X-Total-Count` and the neighbouring pages in an RFC 8288 `Link` header "
          '(`rel="next"`, `rel="prev"`). Without them the whole list is answered.')


@dataclass(frozen=True)
class OperationDocs:
    description: str
    response: Any = NONE  # example of the success answer
    request: Any = NONE  # example of the request body, where there is one
    errors: Sequence[Error] = ()
    # The answer is one item for an object, and for an array of up to `batch` objects an array in
    # the same order of items or their own error bodies (POST /api/callevent).
    batch: int | None = None


def documented(*, description: str, response_example: Any = NONE, request_example: Any = NONE,
               errors: Iterable[Error] = (), batch: int | None = None, **kwargs: Any) -> Callable[[Any], Any]:
    """`extend_schema(**kwargs)` with the operation's docs for clients (module docstring)."""
    docs = OperationDocs(description, response_example, request_example, tuple(errors), batch)
    return extend_schema(**kwargs, extensions={DOCS: docs})


def field_errors(serializer: type, *names: str, status: int = 422) -> list[Error]:
    """The 422 of each named property of `serializer`: its documented message (the serializer's
    `invalid_messages`, else its model field's `documented()` message), its name the code (`_id`
    is answered as `id`, as every error about an object's id is: core.errors.validation_body)."""
    found = []
    for name in names:
        declared = serializer._declared_fields.get(name)
        source = getattr(declared, "source", None) or name
        message = getattr(serializer, "invalid_messages", {}).get(name) or message_of(model_field(serializer.Meta.model, source))
        if not message:
            raise LookupError(f"{serializer.__name__}.{name} has no documented message")
        found.append((status, "id" if name == "_id" else name, message))
    return found


def conflict(model: type[Model], constraint: str) -> Error:
    """The 409 a unique constraint of `model` is answered with (core.api.violated_constraint)."""
    found = next(c for c in model._meta.constraints if c.name == constraint)
    return (409, found.violation_error_code, str(found.violation_error_message))


def errors_of(status: int, code: str, *messages: str) -> list[Error]:
    """Several messages one property (`code`) can be refused with."""
    return [(status, code, message) for message in messages]


# --- rendering (core.schema.TelecomXAutoSchema) ---

REASONS = {400: "Bad request", 401: "Not logged in", 403: "Not allowed", 404: "Not found", 409: "Conflict",
           422: "Invalid input", 429: "Too many requests"}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
# What several failures in one request look like, for the example of a `multiple` error.
MULTIPLE_INNER = [{"code": "url", "status": 422, "message": "Invalid URL", "path": "url"},
                  {"code": "method", "status": 422, "message": "Invalid method", "path": "method"}]


def error_example(status: int, code: str, message: str) -> dict[str, Any]:
    if code == "multiple":
        return {"error": {"code": code, "status": status, "message": message, "inner": MULTIPLE_INNER}}
    body: dict[str, Any] = {"code": code, "status": status, "message": message}
    if status == 422:
        body["path"] = "_id" if code == "id" else code
    return {"error": body}


def errors_by_status(errors: Iterable[Error]) -> dict[int, list[tuple[str, str]]]:
    """status → [(code, message)], each once, in the order given."""
    table: dict[int, list[tuple[str, str]]] = {}
    for status, code, message in errors:
        entries = table.setdefault(status, [])
        if (code, message) not in entries:
            entries.append((code, message))
    return table


def _media(schema: dict[str, Any], example: Any, others: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"schema": schema, "examples": {"example": {"value": example}, **(others or {})}}


def batch_answer(operation: dict[str, Any], most: int) -> None:
    """The success answer is one item, or an array (of up to `most`) of items or error bodies."""
    for status, response in operation["responses"].items():
        content = response.get("content", {}).get("application/json") if status.startswith("2") else None
        if content is not None:
            one = content["schema"]
            content["schema"] = {"oneOf": [one, {
                "type": "array", "maxItems": most,
                "items": {"oneOf": [one, ERROR_REF]},
            }]}


def render(operation: dict[str, Any], docs: OperationDocs, shared_errors: Sequence[Error]) -> None:
    """The description, the examples and the typed error answers of one operation."""
    operation["description"] = docs.description
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None and docs.request is not NONE:
        body.update(_media(body["schema"], docs.request))
    for status, response in operation["responses"].items():
        content = response.get("content", {}).get("application/json")
        if status.startswith("2") and content is not None and docs.response is not NONE:
            # Examples written at the view with OpenApiExample stay beside this one.
            content.update(_media(content["schema"], docs.response, content.get("examples")))
    for status, entries in sorted(errors_by_status([*docs.errors, *shared_errors]).items()):
        lines = "; ".join(f"`{code}` {message}" for code, message in entries)
        operation["responses"][str(status)] = {
            "description": f"{REASONS.get(status, 'Error')}: {lines}",
            "content": {"application/json": {"schema": ERROR_REF, "examples": {
                f"{code}_{index}" if index else code: {"summary": message, "value": error_example(status, code, message)}
                for index, (code, message) in enumerate(entries)
            }}},
        }
