"""Call notify endpoints (api.md §5)."""

from __future__ import annotations

from django.db import models

from accounts.models import Customer
from callnotify.validators import MAX_URL_LENGTH, validate_callnotify_url
from telecomx.ids import new_id


def _choice_errors(message: str) -> dict[str, str]:
    return {"invalid_choice": message, "blank": message, "null": message, "max_length": message}


class CallNotify(models.Model):
    class Method(models.TextChoices):
        POSTARGS = "POSTARGS"
        POSTXML1 = "POSTXML1"
        POSTXML2 = "POSTXML2"
        POSTJSON = "POSTJSON"
        GET1 = "GET1"
        GET2 = "GET2"

    class Selection(models.TextChoices):
        SIP = "SIP"
        MVNO = "MVNO"
        ALL = "ALL"

    class State(models.TextChoices):
        ACTIVE = "ACTIVE"
        DISABLED = "DISABLED"

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="callnotify_items")
    url = models.CharField(
        max_length=MAX_URL_LENGTH,
        validators=[validate_callnotify_url],
        error_messages={"blank": "Invalid URL", "null": "Invalid URL", "max_length": "Invalid URL"},
    )
    method = models.CharField(max_length=8, choices=Method.choices, error_messages=_choice_errors("Invalid method"))
    selection = models.CharField(
        max_length=4, choices=Selection.choices, error_messages=_choice_errors("Invalid selection")
    )
    state = models.CharField(
        max_length=8, choices=State.choices, default=State.ACTIVE, error_messages=_choice_errors("Invalid state")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "call notify item"
        ordering = ["id"]
        indexes = [models.Index(fields=["customer", "state"])]

    def __str__(self) -> str:
        return f"{self.method} {self.url}"
