"""Log in, validate a token, log out (docs/api.md §4)."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import resolve_token
from accounts.models import AccessLevel, Employee, Token
from telecomx.api import SuccessSerializer
from telecomx.errors import ApiError

SessionSerializer = inline_serializer(
    "Session",
    {
        "token": serializers.CharField(),
        "expiresInMinutes": serializers.IntegerField(help_text="-1 for a persistent token"),
        "employee": serializers.CharField(),
        "customer": serializers.CharField(),
        "accessLevel": serializers.ChoiceField(choices=AccessLevel.choices),
    },
)
ValidSerializer = inline_serializer(
    "TokenValidity",
    {
        "success": serializers.BooleanField(),
        "employee": serializers.CharField(),
        "customer": serializers.CharField(),
        "accessLevel": serializers.ChoiceField(choices=AccessLevel.choices),
    },
)


class LoginRequestSerializer(serializers.Serializer):
    username = serializers.CharField(help_text="The employee's e-mail address")
    password = serializers.CharField()
    persist = serializers.BooleanField(required=False, help_text="A token that lasts until logout")


def client_address(request: Request) -> str:
    """The client's address: REMOTE_ADDR, or with TRUSTED_PROXIES = N the address the outermost of
    our N proxies saw, read from the right of X-Forwarded-For (what a client writes further left
    is not believed). The same rule as DRF's NUM_PROXIES, which settings sets to match."""
    remote = request.META.get("REMOTE_ADDR", "")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.TRUSTED_PROXIES <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",")]
    return hops[-min(settings.TRUSTED_PROXIES, len(hops))] or remote


def _failures_key(kind: str, *values: str) -> str:
    # Hashed: user names are arbitrary client text, and cache keys must be plain and bounded.
    joined = "\n".join(values).encode("utf-8", "replace")
    return f"login-failures:{kind}:{hashlib.sha256(joined).hexdigest()}"


def _failure_keys(username: str, address: str) -> tuple[str, str]:
    # Per user name AND address, so nobody elsewhere can lock a known account's owner out; and
    # per address, against one client trying many names.
    return _failures_key("user", address, username), _failures_key("addr", address)


def _throttled(username: str, address: str) -> bool:
    pair, addr = _failure_keys(username, address)
    return (
        cache.get(pair, 0) >= settings.LOGIN_FAILURES_PER_USER
        or cache.get(addr, 0) >= settings.LOGIN_FAILURES_PER_ADDRESS
    )


def _count_failure(username: str, address: str) -> None:
    for key in _failure_keys(username, address):
        if not cache.add(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW)


class LoginView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=LoginRequestSerializer, responses={200: SessionSerializer}, auth=[])
    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        username, password, persist = data.get("username"), data.get("password"), data.get("persist", False)
        if not isinstance(username, str) or not username:
            raise ApiError(422, "username", "Username is invalid", path="username")
        if not isinstance(password, str) or not password:
            raise ApiError(422, "password", "Password is invalid", path="password")
        if not isinstance(persist, bool):
            raise ApiError(422, "persist", "Persist is invalid", path="persist")
        username = username.strip().lower()
        address = client_address(request)
        if _throttled(username, address):
            raise ApiError(429, "rate_limited", "Too many requests")
        employee = authenticate(request._request, username=username, password=password)
        if not isinstance(employee, Employee) or not employee.may_use_api():
            _count_failure(username, address)
            raise ApiError(401, "credentials_invalid", "Wrong username or password")
        cache.delete(_failure_keys(username, address)[0])
        _token, raw = Token.objects.issue(employee, persist=persist)
        return Response(
            {
                "token": raw,
                "expiresInMinutes": -1 if persist else settings.TOKEN_EXPIRY_MINUTES,
                "employee": employee.pk,
                "customer": employee.customer_id,
                "accessLevel": employee.access_level,
            }
        )


class ValidateTokenView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[OpenApiParameter("token", str, required=True)], responses={200: ValidSerializer}, auth=[]
    )
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("token", "")
        if not raw:
            raise ApiError(401, "invalid_token", "Undecipherable")
        token = resolve_token(raw)
        employee = token.employee
        return Response(
            {"success": True, "employee": employee.pk, "customer": employee.customer_id, "accessLevel": employee.access_level}
        )


class LogoutView(APIView):
    @extend_schema(responses={200: SuccessSerializer})
    def get(self, request: Request) -> Response:
        Token.objects.filter(employee=request.user).delete()
        return Response({"success": True})
