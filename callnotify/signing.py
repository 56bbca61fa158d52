"""Standard Webhooks signing secrets and signatures (docs/callevents.md §3-4)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as random_source

from django.core.exceptions import ValidationError

PREFIX = "whsec_"
INVALID_SECRET = "Invalid secret"
MIN_BYTES, MAX_BYTES = 24, 64


class GeneratedSecret(str):
    """A secret the server made for this request: the one response that may show it."""


def generate_secret() -> GeneratedSecret:
    return GeneratedSecret(PREFIX + base64.b64encode(random_source.token_bytes(32)).decode("ascii"))


def secret_key(secret: str) -> bytes:
    """The HMAC key: the decoded bytes after `whsec_`; ValueError when it is not a valid secret."""
    if not secret.startswith(PREFIX):
        raise ValueError(INVALID_SECRET)
    try:
        key = base64.b64decode(secret[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(INVALID_SECRET) from None
    if not MIN_BYTES <= len(key) <= MAX_BYTES:
        raise ValueError(INVALID_SECRET)
    return key


def validate_secret(value: str) -> None:
    try:
        secret_key(value)
    except ValueError:
        raise ValidationError(INVALID_SECRET, code="invalid") from None


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of id.timestamp.body>`."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")
