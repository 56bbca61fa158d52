"""OpenAPI details drf-spectacular cannot guess: the bearer auth and the Telecom X error body."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_bearer_security_scheme_object


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Bearer")


_ERROR_OBJECT = {
    "type": "object",
    "required": ["code", "status", "message"],
    "properties": {
        "code": {"type": "string", "description": "The failing property (`url`) or a generic code (`access_denied`)"},
        "status": {"type": "integer", "description": "The HTTP status, repeated"},
        "message": {"type": "string"},
        "path": {"type": "string", "description": "The failing property's path"},
        "check": {"type": "string"},
        "inner": {
            "type": "array",
            "description": "With code `multiple`: one error object per failure",
            "items": {"type": "object", "additionalProperties": True},
        },
    },
}
ERROR_SCHEMA = {"type": "object", "required": ["error"], "properties": {"error": _ERROR_OBJECT}}


def add_error_responses(result, generator, request, public):  # type: ignore[no-untyped-def]
    """Postprocessing hook: every operation documents the error body for its 4xx/5xx answers."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for status, text in (("4XX", "Telecom X error body"), ("5XX", "Internal error")):
                responses.setdefault(status, {"description": text, "content": {"application/json": {"schema": ref}}})
    return result


class TelecomXAutoSchema(AutoSchema):
    """Update by POST on an item is its own operation next to create by POST on the collection."""

    def get_operation_id(self) -> str:
        operation_id = super().get_operation_id()
        if getattr(self.view, "action", None) == "update_by_post":
            return operation_id.removesuffix("_create") + "_update_by_post"
        return operation_id
