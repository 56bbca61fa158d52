"""Bearer tokens (docs/api.md §4): random, only their SHA-256 stored, 15 minutes from last use."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from accounts.models import Employee, Token, hash_token
from telecomx.errors import ApiError

# A token's expiry is pushed forward at most this often, so a busy client does not write a row
# on every request; the expiry it sees is at most this much shorter than the full window.
TOUCH_INTERVAL = timedelta(seconds=30)


# The token look-up joins its employee, customer and two resellers above it, so the holder rule
# (Employee.may_use_api) costs no query of its own for trees up to that depth.
TOKEN_HOLDER = "employee__customer__parent_reseller__parent_reseller"


def resolve_token(raw: str) -> Token:
    """The live token for a raw value, or the documented 401."""
    token = Token.objects.select_related(TOKEN_HOLDER).filter(key_hash=hash_token(raw)).first()
    if token is None:
        raise ApiError(401, "invalid_token", "Undecipherable")
    if token.is_expired():
        token.delete()
        raise ApiError(401, "expired", "Session has expired, please login")
    if not token.employee.may_use_api():
        raise ApiError(401, "credentials_invalid", "Authorization required, please login")
    return token


def touch(token: Token) -> None:
    now = timezone.now()
    if token.persist or now - token.last_used_at < TOUCH_INTERVAL:
        return
    token.last_used_at = now
    token.expires_at = now + timedelta(minutes=settings.TOKEN_EXPIRY_MINUTES)
    Token.objects.filter(pk=token.pk).update(last_used_at=token.last_used_at, expires_at=token.expires_at)


class BearerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Employee, Token] | None:
        header = get_authorization_header(request)
        if not header:
            return None  # IsAuthenticated answers 401 credentials_invalid
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != b"bearer":
            raise ApiError(401, "format_error", "Authorization header format is Authorization: Bearer <token>")
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise ApiError(401, "invalid_token", "Undecipherable") from None
        token = resolve_token(raw)
        touch(token)
        request._request._telecomx_employee = token.employee  # for the request log
        return token.employee, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
