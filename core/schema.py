"""OpenAPI details drf-spectacular cannot guess: the bearer auth and the Telecom X error body."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_bearer_security_scheme_object


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


def _batch_answer(operation: dict) -> None:  # type: ignore[type-arg]
    """POST /api/callevent answers one accepted event for an object, and for an array, an array in
    the same order of accepted events or their own error bodies."""
    content = operation["responses"]["202"]["content"]["application/json"]
    one = content["schema"]
    content["schema"] = {"oneOf": [one, {
        "type": "array", "maxItems": 1000,
        "items": {"oneOf": [one, {"$ref": "#/components/schemas/Error"}]},
    }]}


def add_error_responses(result, generator, request, public):  # type: ignore[no-untyped-def]
    """Postprocessing hook: every operation documents the error body for its 4xx/5xx answers."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorDetail"] = ERROR_DETAIL_SCHEMA
    schemas["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if operation.get("operationId") == "callevent_create":
                _batch_answer(operation)
            responses = operation.setdefault("responses", {})
            for status, text in (("4XX", "Telecom X error body"), ("5XX", "Internal error")):
                responses.setdefault(status, {"description": text, "content": {"application/json": {"schema": ref}}})
    return result


class TelecomXAutoSchema(AutoSchema):
    """Update by POST on an item is its own operation next to create by POST on the collection,
    and takes the same partial body as PATCH."""

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
