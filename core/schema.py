"""OpenAPI details drf-spectacular cannot guess: the bearer auth, the Telecom X error body, and
how each operation's docs written at its view (core.docs) become its description, examples and
error answers.

Component descriptions are for clients: a serializer's docstring is written for developers, so a
component is described only by `extend_schema_serializer(description=…)` at its serializer.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_bearer_security_scheme_object, get_override

from core import docs
from core.errors import NOT_LOGGED_IN, RATE_LIMITED, Error


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Bearer")


_ERROR_FIELDS = {
    "code": {"type": "string", "description": "The failing property (`url`) or a generic code (`access_denied`)"},
    "status": {"type": "integer", "description": "The HTTP status, repeated"},
    "message": {"type": "string", "description": "What went wrong, in words meant for people"},
    "path": {"type": "string", "description": "The failing property's path in the request (`hosts.0.host`), where there is one"},
    "check": {"type": "string", "description": "Which check failed, where it helps"},
}
# One failure; `multiple` lists several of these in `inner`.
ERROR_DETAIL_SCHEMA = {"type": "object", "required": ["code", "status", "message"], "properties": _ERROR_FIELDS}
_ERROR_OBJECT = {
    "type": "object",
    "required": ["code", "status", "message"],
    "properties": {
        **_ERROR_FIELDS,
        "inner": {
            "type": "array",
            "description": "With code `multiple` (several failures in one request): one error per failure",
            "items": {"$ref": "#/components/schemas/ErrorDetail"},
        },
    },
}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": _ERROR_OBJECT},
    "description": "Every error under /api/ answers this body.",
}


class NullAsBlankFieldExtension(OpenApiSerializerFieldExtension):
    """Such a field takes null in requests but always answers a string."""

    target_class = "core.serializers.NullAsBlankCharField"

    def map_serializer_field(self, auto_schema, direction):  # type: ignore[no-untyped-def]
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        return {**schema, "nullable": True} if direction == "request" else schema


def add_error_components(result, generator, request, public):  # type: ignore[no-untyped-def]
    """Postprocessing hook: the error body every operation's 4xx/5xx answers refer to."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorDetail"] = ERROR_DETAIL_SCHEMA
    schemas["Error"] = ERROR_SCHEMA
    return result


SHARED_RESPONSES = (("4XX", "Telecom X error body"), ("5XX", "Internal error"))


class TelecomXAutoSchema(AutoSchema):
    """Every operation: the error body for its 4xx/5xx answers; with a login, the login errors of
    its authentication classes (each lists them as `documented_errors`); and the docs written at
    its view (core.docs.documented).

    Update by POST on an item is its own operation next to create by POST on the collection,
    and takes the same partial body as PATCH. A serializer's `always_answered` names properties
    every answer carries although requests may leave them out: required in answers only, so
    clients generated from the schema type them as present."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        written = operation.pop(docs.DOCS, None)
        if written is not None and written.batch:
            docs.batch_answer(operation, written.batch)
        responses = operation.setdefault("responses", {})
        for status, text in SHARED_RESPONSES:
            responses.setdefault(status, {"description": text, "content": {"application/json": {"schema": docs.ERROR_REF}}})
        if written is not None:
            docs.render(operation, written, self._login_errors() if "security" in operation else [])
        return operation

    def _login_errors(self) -> list[Error]:
        """What an operation that needs a login answers without one, or with a bad one, or too often."""
        found = [NOT_LOGGED_IN]
        for authenticator in getattr(self.view, "authentication_classes", []):
            found += getattr(authenticator, "documented_errors", [])
        return [*found, RATE_LIMITED]

    def _get_paginator(self):  # type: ignore[no-untyped-def]
        # A plain-array list that pages on request stays a plain array: paged_list_schema documents
        # its parameters and headers, not DRF's page object.
        paginator = super()._get_paginator()
        return None if getattr(paginator, "answers_plain_array", False) else paginator

    def _map_basic_serializer(self, serializer, direction):  # type: ignore[no-untyped-def]
        schema = super()._map_basic_serializer(serializer, direction)
        if get_override(serializer, "description", None) is None:
            schema.pop("description", None)  # a docstring, written for developers
        answered = getattr(serializer, "always_answered", ())
        if direction == "response" and answered:
            order = list(schema["properties"])
            schema["required"] = sorted(set(schema.get("required", [])) | set(answered), key=order.index)
        return schema

    def _get_request_for_media_type(self, serializer, direction="request"):  # type: ignore[no-untyped-def]
        if getattr(self.view, "action", None) != "update_by_post":
            return super()._get_request_for_media_type(serializer, direction)
        method, self.method = self.method, "PATCH"
        try:
            return super()._get_request_for_media_type(serializer, direction)
        finally:
            self.method = method

    def get_operation_id(self) -> str:
        operation_id = super().get_operation_id()
        if getattr(self.view, "action", None) == "update_by_post":
            return operation_id.removesuffix("_create") + "_update_by_post"
        return operation_id
