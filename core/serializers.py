"""The shared base serializer: fields check types, the model checks rules, so admin and API agree."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.fields import SkipField, empty

from core.errors import ApiError, Error
from core.messages import message_of, model_field, serializer_messages


NOT_OBJECT: Error = (400, "bad_request", "The request body must be a JSON object")


class StrictCharField(serializers.CharField):
    """A string and nothing else: DRF's CharField would turn 5 into "5"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class NullAsBlankCharField(StrictCharField):
    """A string where null is taken as "" (and so never answered): the schema says so per direction
    (core.schema.NullAsBlankFieldExtension)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("allow_null", None)
        super().__init__(**kwargs)

    def run_validation(self, data: Any = empty) -> Any:
        return "" if data is None else super().run_validation(data)

    def to_representation(self, value: Any) -> str:
        return "" if value is None else super().to_representation(value)


class StrictChoiceField(serializers.ChoiceField):
    """One of a closed set of strings (an enum in the schema); DRF's would also take 5 for "5"."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """true or false: DRF's BooleanField would also take "yes" and 1."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class ModelCleanSerializer(serializers.ModelSerializer):
    """Fields only parse; `Model.full_clean()` holds every rule and its documented message.

    All failures of one request are reported together (docs/api.md §2 `multiple`), type errors and
    model errors alike. Views pass values the client cannot set (the URL's customer) in
    context["model_defaults"], so the model sees the whole row it will save.
    """

    # field name -> documented message, for fields that are not a model field's (whose message
    # is declared on the model field: core.messages.documented)
    invalid_messages: ClassVar[dict[str, str]] = {}
    # passed on to full_clean (e.g. validate_constraints=False where the database answers 409)
    full_clean_options: ClassVar[dict[str, Any]] = {}

    def get_fields(self) -> dict[str, serializers.Field]:
        """The fields, made once per class and copied for each serializer: DRF builds them anew
        for every instance (a deep copy of each declared field and the model's introspection),
        which was a fifth of a call event post. A field is a small object with its settings; a
        copy shares them (they are read, never changed, while validating) and is bound to this
        serializer alone. A class with a nested serializer builds its fields as DRF does."""
        made = ModelCleanSerializer._made.get(type(self))
        if made is None:
            made = self._make_fields()
            if not any(isinstance(field, serializers.BaseSerializer) for field in made.values()):
                ModelCleanSerializer._made[type(self)] = made
            else:
                return made
        return {name: copy.copy(field) for name, field in made.items()}

    _made: ClassVar[dict[type, dict[str, serializers.Field]]] = {}

    def _make_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for name, field in fields.items():
            field.validators = []  # the model runs them, once
            message = self.invalid_messages.get(name) or message_of(model_field(self.Meta.model, field.source or name))
            if message:
                field.error_messages = {**field.error_messages, **serializer_messages(message)}
        return fields

    def wire_name(self, model_field: str) -> str:
        # A foreign key's errors carry its name (`peer`); its field may read `peer_id`.
        wanted = model_field.removesuffix("_id")
        for field in self.fields.values():
            if field.source_attrs and field.source_attrs[0].removesuffix("_id") == wanted:
                return field.field_name
        return model_field

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise ApiError(*NOT_OBJECT)
        attrs: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for field in self._writable_fields:
            try:
                value = field.run_validation(field.get_value(data))
            except ValidationError as exc:
                errors[field.field_name] = exc.detail
            except SkipField:
                continue
            else:
                self.set_value(attrs, field.source_attrs, value)
        model_errors = self._model_errors(attrs, failed={self.fields[name].source for name in errors})
        for name, messages in model_errors.items():
            errors.setdefault(self.wire_name(name), messages)
        if errors:
            order = list(self.fields)
            raise ValidationError(dict(sorted(errors.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))))
        return attrs

    def _model_errors(self, attrs: dict[str, Any], failed: set[str]) -> dict[str, list[str]]:
        model = self.Meta.model
        if self.instance is not None:
            candidate = copy.copy(self.instance)
            # An update checks what it changes, not what was already stored.
            exclude = {f.name for f in model._meta.concrete_fields if f.name not in attrs and f.attname not in attrs}
        else:
            candidate = model()
            exclude = set()
        defaults = self.context.get("model_defaults", {})
        for key, value in {**defaults, **attrs}.items():
            setattr(candidate, key, value)
        # What the view supplies (the URL's customer, found in reach) is there for the model's
        # cross-field rules, not checked again (a foreign key's check is a query).
        unchecked = failed | (set(defaults) - set(attrs))
        exclude |= {name.removesuffix("_id") for name in unchecked} | unchecked
        try:
            candidate.full_clean(exclude=sorted(exclude), **self.full_clean_options)
        except DjangoValidationError as exc:
            # dict.fromkeys: one message once (max_length and the field's validator may both say "Invalid URL")
            return {key: list(dict.fromkeys(str(m) for m in messages)) for key, messages in exc.message_dict.items()}
        return {}

    def run_validation(self, data: Any = empty) -> Any:
        # Skip DRF's own validator pass (unique-together etc.): the model and the database decide.
        return self.to_internal_value(data)
