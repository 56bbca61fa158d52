"""Each field's documented message (docs/api.md), declared once: on the model field, with `documented()`.

The serializers (core.serializers.ModelCleanSerializer) and the admin forms (`DocumentedForm`)
read it from there, so the API and the admin refuse a value with the same words.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db import models

# The key under which a model field keeps its documented message.
DOCUMENTED = "documented"
# Every way a Django model field, form field or DRF field can refuse a value.
MODEL_KEYS = ("required", "null", "blank", "invalid", "invalid_choice", "max_length")
FORM_KEYS = ("required", "invalid", "invalid_choice", "max_length", "min_length")
SERIALIZER_KEYS = (
    "required", "null", "blank", "invalid", "invalid_choice", "max_length", "min_length", "not_a_list", "empty",
    "max_value", "min_value", "max_string_length", "overflow", "date", "make_aware", "not_a_dict",
)


def documented(message: str, *, validators_speak: bool = False, **specific: str) -> dict[str, str]:
    """A model field's `error_messages`: `message` for every way its value can be wrong.

    `specific` overrides one key (a foreign key's `invalid="Peer not found"`). With
    `validators_speak`, the field's validators keep their own, more precise messages (Django
    replaces a validator's message by the field's message for the same code, here `invalid`).
    """
    keys = [key for key in MODEL_KEYS if not (validators_speak and key == "invalid")]
    return {DOCUMENTED: message, **{key: message for key in keys}, **specific}


def message_of(field: Any) -> str | None:
    """The documented message of a model field, or None."""
    return getattr(field, "error_messages", {}).get(DOCUMENTED)


def model_field(model: type[models.Model], name: str) -> models.Field | None:
    """The model field called `name` (or whose attname it is: `peer_id`), or None."""
    for field in model._meta.concrete_fields:
        if name in (field.name, field.attname):
            return field
    return None


def serializer_messages(message: str) -> dict[str, str]:
    return {key: message for key in SERIALIZER_KEYS}


class DocumentedForm(forms.ModelForm):
    """A model form whose fields refuse with the model fields' documented messages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            source = model_field(self._meta.model, name)
            message = message_of(source)
            if message and source is not None:
                keys = [key for key in FORM_KEYS if key in source.error_messages]
                field.error_messages.update({key: message for key in keys})
