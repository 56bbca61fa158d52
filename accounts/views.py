"""Log in, validate a token, log out (docs/api.md §4)."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema_serializer, extend_schema_view
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import EXPIRED, LOGIN_AGAIN, UNDECIPHERABLE, resolve_token
from accounts.models import AccessLevel, ApiKey, Employee, Token
from accounts.permissions import Access
from core.api import SuccessSerializer
from core.docs import EXAMPLE_CUSTOMER, EXAMPLE_EMPLOYEE, documented
from core.errors import DENIED, RATE_LIMITED, ApiError, Error
from core.ids import normalize_id
from core.parsers import BAD_JSON
from core.serializers import NOT_OBJECT

WRONG_LOGIN: Error = (401, "credentials_invalid", "Wrong username or password")
USERNAME_INVALID: Error = (422, "username", "Username is invalid")
PASSWORD_INVALID: Error = (422, "password", "Password is invalid")
PERSIST_INVALID: Error = (422, "persist", "Persist is invalid")
NAME_INVALID: Error = (422, "name", "Name is invalid")
NO_ACCOUNT: Error = (404, "account", "Service account not found")
NO_API_KEY: Error = (404, "id", "API key not found")


@extend_schema_serializer(description="A new login's token and who it belongs to.")
class SessionSerializer(serializers.Serializer):
    token = serializers.CharField()
    expiresInMinutes = serializers.IntegerField(help_text="-1 for a persistent token")  # noqa: N815
    employee = serializers.CharField()
    customer = serializers.CharField()
    accessLevel = serializers.ChoiceField(choices=AccessLevel.choices)  # noqa: N815


@extend_schema_serializer(description="Whose a valid token is.", component_name="TokenValidity")
class ValidSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    employee = serializers.CharField()
    customer = serializers.CharField()
    accessLevel = serializers.ChoiceField(choices=AccessLevel.choices)  # noqa: N815


@extend_schema_serializer(description="An employee's credentials.")
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

    @documented(
        description="Log in with an employee's e-mail and password. The token lasts 15 minutes from its last use, or until "
        "logout with `persist: true` (`expiresInMinutes: -1`). Send it as `Authorization: Bearer <token>`. "
        "Repeated failures are throttled (429).",
        response_example={"token": "m2W1pZ3x0Yq8TQ8r3y5Jm9c1vA7kLQeH", "expiresInMinutes": 15, "employee": EXAMPLE_EMPLOYEE,
                  "customer": EXAMPLE_CUSTOMER, "accessLevel": "OWNER"},
        request_example={"username": "owner@hansen.example", "password": "correct horse battery staple"},
        errors=[WRONG_LOGIN, USERNAME_INVALID, PASSWORD_INVALID, PERSIST_INVALID, BAD_JSON, NOT_OBJECT, RATE_LIMITED],
        request=LoginRequestSerializer, responses={200: SessionSerializer}, auth=[],
    )
    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        username, password, persist = data.get("username"), data.get("password"), data.get("persist", False)
        if not isinstance(username, str) or not username:
            raise ApiError(*USERNAME_INVALID, path="username")
        if not isinstance(password, str) or not password:
            raise ApiError(*PASSWORD_INVALID, path="password")
        if not isinstance(persist, bool):
            raise ApiError(*PERSIST_INVALID, path="persist")
        username = username.strip().lower()
        address = client_address(request)
        if _throttled(username, address):
            refused = ApiError(*RATE_LIMITED)
            refused.wait = settings.LOGIN_FAILURE_WINDOW  # Retry-After: when the oldest counted failure is forgotten at the latest
            raise refused
        employee = authenticate(request._request, username=username, password=password)
        if not isinstance(employee, Employee) or not employee.may_use_api():
            _count_failure(username, address)
            raise ApiError(*WRONG_LOGIN)
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

    @documented(
        description="Check a token (given in `?token=`) and tell whose it is. Does not extend its life.",
        response_example={"success": True, "employee": EXAMPLE_EMPLOYEE, "customer": EXAMPLE_CUSTOMER, "accessLevel": "OWNER"},
        errors=[(401, *UNDECIPHERABLE), (401, *EXPIRED), (401, *LOGIN_AGAIN)],
        parameters=[OpenApiParameter("token", str, required=True)], responses={200: ValidSerializer}, auth=[],
    )
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("token", "")
        if not raw:
            raise ApiError(401, *UNDECIPHERABLE)
        token = resolve_token(raw)
        employee = token.employee
        return Response(
            {"success": True, "employee": employee.pk, "customer": employee.customer_id, "accessLevel": employee.access_level}
        )


class LogoutView(APIView):
    permission_classes = [Access.LOGOUT]

    @documented(description="End every token of the caller (all sessions).", response_example={"success": True},
                responses={200: SuccessSerializer})
    def get(self, request: Request) -> Response:
        Token.objects.filter(employee=request.user).delete()
        return Response({"success": True})


# --- service accounts' API keys (docs/api.md §3: ADMIN creates, lists and revokes them) ---


@extend_schema_serializer(description="A service account's API key, as listed: never the key itself.")
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


@extend_schema_serializer(description="A new API key: `key` is shown in this answer only.")
class NewApiKeySerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The key itself: shown this once, only its hash is stored")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


def _api_key_input(data: object) -> tuple[str, Employee | None]:
    data = data if isinstance(data, dict) else {}
    name, account_id = data.get("name"), data.get("account")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100:
        raise ApiError(*NAME_INVALID, path="name")
    account = None
    if account_id is not None:
        pk = normalize_id(account_id) if isinstance(account_id, str) else None
        # Only a live service account (one that has had a key, still enabled) takes more keys: a
        # person's login never does, and a disabled account's keys are over for good.
        account = Employee.objects.filter(pk=pk, api_keys__isnull=False, state=Employee.State.ENABLED).distinct().first() if pk else None
        if account is None:
            raise ApiError(*NO_ACCOUNT, path="account")
    return name.strip(), account


API_KEY = {"_id": "6b0440a1b2c3d4e5f6a7b8c9", "name": "kamailio-1", "account": "6b0440a1b2c3d4e5f6a7b8c8",
           "prefix": "txk_Q2x9aB", "createdAt": "2026-11-23T09:00:00Z", "createdBy": EXAMPLE_EMPLOYEE, "revokedAt": None}
API_KEY_WHO = "Who: ADMIN (a key itself is refused)."


@extend_schema_view(
    get=documented(
        summary="List service account API keys (ADMIN)", responses=ApiKeySerializer(many=True),
        description=f"Every service account API key, newest first, revoked ones included. Never the key itself. {API_KEY_WHO}",
        response_example=[API_KEY], errors=[DENIED],
    ),
    post=documented(
        summary="Create an API key for a service account (ADMIN); the key is in this answer only",
        request=ApiKeySerializer, responses={201: NewApiKeySerializer},
        description="Make an API key for a switch: without `account`, a new service account (no password, able only to look "
        "up routes and post call events) and its first key; with `account`, another key for that service "
        f"account (rotate without a gap). The key (`txk_...`) is in this answer only. {API_KEY_WHO}",
        response_example={**API_KEY, "key": "txk_Q2x9aBvK3mR7tYw1LpE5sD8fH0jN4cZ6uI2oA9gX"}, request_example={"name": "kamailio-1"},
        errors=[NAME_INVALID, NO_ACCOUNT, DENIED, BAD_JSON],
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
    get=documented(summary="Get a service account API key (ADMIN)", responses=ApiKeySerializer,
                   description=f"One API key (never the key itself). {API_KEY_WHO}", response_example=API_KEY, errors=[NO_API_KEY, DENIED]),
    delete=documented(
        summary="Revoke an API key (ADMIN): it stops working on the next request", responses={200: ApiKeySerializer},
        description=f"Revoke an API key: it stops working on the next request, in every process. Revoking again changes nothing. {API_KEY_WHO}",
        response_example={**API_KEY, "revokedAt": "2026-11-23T12:00:00Z"}, errors=[NO_API_KEY, DENIED],
    ),
)
class ApiKeyView(APIView):
    permission_classes = [Access.API_KEYS]

    def _key(self, pk: str) -> ApiKey:
        key = ApiKey.objects.filter(pk=normalize_id(pk)).first() if normalize_id(pk) else None
        if key is None:
            raise ApiError(*NO_API_KEY)
        return key

    def get(self, request: Request, pk: str) -> Response:
        return Response(ApiKeySerializer(self._key(pk)).data)

    def delete(self, request: Request, pk: str) -> Response:
        key = self._key(pk)
        key.revoke()
        return Response(ApiKeySerializer(key).data)
