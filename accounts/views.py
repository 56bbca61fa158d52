"""Log in, validate a token, log out (docs/api.md §4)."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import resolve_token
from accounts.models import AccessLevel, ApiKey, Employee, Token
from accounts.permissions import Access
from core.api import SuccessSerializer
from core.errors import ApiError
from core.ids import normalize_id

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


# --- service accounts' API keys (docs/api.md §3: ADMIN creates, lists and revokes them) ---


class ApiKeySerializer(serializers.ModelSerializer):
    _id = serializers.CharField(source="id", read_only=True)
    name = serializers.CharField(max_length=100, help_text="What uses the key, e.g. kamailio-1")
    account = serializers.CharField(
        source="employee_id", required=False,
        help_text="Service account (employee id) to give another key, e.g. to rotate keys without a gap; "
        "left out, a new service account is made",
    )
    prefix = serializers.CharField(read_only=True, help_text="The key's first characters, to recognise it")
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)  # noqa: N815
    createdBy = serializers.CharField(source="created_by_id", read_only=True, allow_null=True)  # noqa: N815
    revokedAt = serializers.DateTimeField(source="revoked_at", read_only=True, allow_null=True)  # noqa: N815

    class Meta:
        model = ApiKey
        fields = ["_id", "name", "account", "prefix", "createdAt", "createdBy", "revokedAt"]


class NewApiKeySerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The key itself: shown this once, only its hash is stored")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


def _api_key_input(data: object) -> tuple[str, Employee | None]:
    data = data if isinstance(data, dict) else {}
    name, account_id = data.get("name"), data.get("account")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100:
        raise ApiError(422, "name", "Name is invalid", path="name")
    account = None
    if account_id is not None:
        pk = normalize_id(account_id) if isinstance(account_id, str) else None
        # Only a live service account (one that has had a key, still enabled) takes more keys: a
        # person's login never does, and a disabled account's keys are over for good.
        account = Employee.objects.filter(pk=pk, api_keys__isnull=False, state=Employee.State.ENABLED).distinct().first() if pk else None
        if account is None:
            raise ApiError(404, "account", "Service account not found", path="account")
    return name.strip(), account


@extend_schema_view(
    get=extend_schema(summary="List service account API keys (ADMIN)", responses=ApiKeySerializer(many=True)),
    post=extend_schema(
        summary="Create an API key for a service account (ADMIN); the key is in this answer only",
        request=ApiKeySerializer, responses={201: NewApiKeySerializer},
    ),
)
class ApiKeyListView(APIView):
    permission_classes = [Access.API_KEYS]

    def get(self, request: Request) -> Response:
        return Response(ApiKeySerializer(ApiKey.objects.all(), many=True).data)

    def post(self, request: Request) -> Response:
        name, account = _api_key_input(request.data)
        with transaction.atomic():
            key, raw = ApiKey.objects.issue(name=name, account=account, created_by=request.user)
        return Response({**NewApiKeySerializer(key).data, "key": raw}, status=201)


@extend_schema_view(
    get=extend_schema(summary="Get a service account API key (ADMIN)", responses=ApiKeySerializer),
    delete=extend_schema(summary="Revoke an API key (ADMIN): it stops working on the next request", responses={200: ApiKeySerializer}),
)
class ApiKeyView(APIView):
    permission_classes = [Access.API_KEYS]

    def _key(self, pk: str) -> ApiKey:
        key = ApiKey.objects.filter(pk=normalize_id(pk)).first() if normalize_id(pk) else None
        if key is None:
            raise ApiError(404, "id", "API key not found")
        return key

    def get(self, request: Request, pk: str) -> Response:
        return Response(ApiKeySerializer(self._key(pk)).data)

    def delete(self, request: Request, pk: str) -> Response:
        key = self._key(pk)
        key.revoke()
        return Response(ApiKeySerializer(key).data)
