"""The one Telecom X error body (docs/api.md §2): every error under /api/ is shaped here and only here."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

logger = logging.getLogger("telecomx.errors")

API_PREFIX = "/api/"
UNSPECIFIED = "<Unspecified>"

Error = tuple[int, str, str]  # a documented error: status, code, message
# The errors every part of the API answers with the same words.
NOT_LOGGED_IN: Error = (401, "credentials_invalid", "Authorization required, please login")
DENIED: Error = (403, "access_denied", "Insufficient access level")
NOT_FOUND: Error = (404, "not_found", "Not found")
TOO_LARGE: Error = (413, "too_large", "Request body too large")
MULTIPLE: Error = (422, "multiple", "Multiple errors")
RATE_LIMITED: Error = (429, "rate_limited", "Too many requests")
# The database is away (core/outage.py): nothing was stored; the client retries after Retry-After.
UNAVAILABLE: Error = (503, "unavailable", "Service temporarily unavailable")
RETRY_AFTER_SECONDS = 1
# Field errors whose key is not a property of the request body.
NON_FIELD_KEYS = {"non_field_errors", "__all__"}


class ApiError(drf.APIException):
    """An error with a documented status, code and message (and the failing property's path)."""

    def __init__(self, status: int, code: str, message: str, *, path: str | None = None, check: str | None = None):
        super().__init__(detail=message, code=code)
        self.status_code = status
        self.code = code
        self.message = message
        self.path = path
        self.check = check


def error_object(status: int, code: str, message: str, path: str | None = None, check: str | None = None) -> dict:
    error: dict[str, Any] = {"code": code, "status": status, "message": message}
    if path:
        error["path"] = path
    if check:
        error["check"] = check
    return error


def error_body(status: int, code: str, message: str, path: str | None = None, check: str | None = None) -> dict:
    return {"error": error_object(status, code, message, path, check)}


def _flatten(detail: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(detail, dict):
        for key, value in detail.items():
            yield from _flatten(value, path + (str(key),))
    elif isinstance(detail, list):
        # A list of plain messages belongs to `path`; a list of dicts is one entry per list item.
        for index, value in enumerate(detail):
            if isinstance(value, (dict, list)):
                yield from _flatten(value, path + (str(index),))
            else:
                yield path, str(value)
    else:
        yield path, str(detail)


def validation_body(detail: Any, status: int = 422) -> dict:
    """Field errors as one error, or as `multiple` with one inner error per failure."""
    errors = []
    for path, message in _flatten(detail):
        if not path or path[0] in NON_FIELD_KEYS:
            errors.append(error_object(status, "bad_request", message))
        else:
            # The key `_id` is reported as code `id`, as every other error about an object's id is.
            errors.append(error_object(status, "id" if path[0] == "_id" else path[0], message, ".".join(path)))
    if len(errors) == 1:
        return {"error": errors[0]}
    return {"error": {"code": MULTIPLE[1], "status": status, "message": MULTIPLE[2], "inner": errors}}


def _body_for(exc: Exception) -> tuple[int, dict] | None:
    if isinstance(exc, ApiError):
        return exc.status_code, error_body(exc.status_code, exc.code, exc.message, exc.path, exc.check)
    if isinstance(exc, drf.ValidationError):
        return 422, validation_body(exc.detail)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return 422, validation_body(detail)
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        return 401, error_body(*NOT_LOGGED_IN)
    if isinstance(exc, (drf.PermissionDenied, DjangoPermissionDenied)):
        return 403, error_body(*DENIED)
    if isinstance(exc, (drf.NotFound, Http404)):
        return 404, error_body(*NOT_FOUND)
    if isinstance(exc, drf.MethodNotAllowed):
        return 405, error_body(405, "method_not_allowed", str(exc.detail))
    if isinstance(exc, drf.Throttled):
        return 429, error_body(*RATE_LIMITED)
    if isinstance(exc, drf.ParseError):
        return 400, error_body(400, "bad_request", str(exc.detail))
    if isinstance(exc, drf.UnsupportedMediaType):
        return 415, error_body(415, "unsupported_media_type", str(exc.detail))
    if isinstance(exc, drf.NotAcceptable):
        return 406, error_body(406, "not_acceptable", str(exc.detail))
    if isinstance(exc, RequestDataTooBig):
        return 413, error_body(*TOO_LARGE)
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database refused, cut or timed out a connection: the request's transaction rolled back whole.
        logger.warning("database unavailable: %s", exc)
        return 503, error_body(*UNAVAILABLE)
    if isinstance(exc, IntegrityError):
        # Views turn the constraints they know into their documented 409; this is the safety net.
        logger.warning("unmapped integrity error: %s", exc)
        return 409, error_body(409, "conflict", "Conflicts with stored data")
    if isinstance(exc, drf.APIException):
        return exc.status_code, error_body(exc.status_code, "bad_request", str(exc.detail))
    return None


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every known error becomes the Telecom X body."""
    shaped = _body_for(exc)
    if shaped is None:
        return None  # unexpected: ApiErrorMiddleware answers 500
    status, body = shaped
    response = Response(body, status=status)
    wait = getattr(exc, "wait", None)
    if status == 429 and wait:
        response["Retry-After"] = str(int(wait))
    if status == 503:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if isinstance(exc, drf.NotAuthenticated) or status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


_GENERIC = {
    400: ("bad_request", "Bad request"),
    **{status: (code, message) for status, code, message in (NOT_LOGGED_IN, DENIED, NOT_FOUND, TOO_LARGE, RATE_LIMITED)},
    405: ("method_not_allowed", "Method not allowed"),
}


def _generic_response(status: int, request: HttpRequest) -> JsonResponse:
    code, message = _GENERIC.get(status, ("internal_error", UNSPECIFIED) if status >= 500 else ("bad_request", "Bad request"))
    if status == 404:
        message = f"No route {request.method} {request.path}"
    elif status == 405:
        message = f'Method "{request.method}" not allowed'
    return JsonResponse(error_body(status, code, message), status=status)


def is_api_path(path: str) -> bool:
    """Under /api: `/api/...`, and `/api` itself (an unknown route there gets the JSON body too)."""
    return path.startswith(API_PREFIX) or path == API_PREFIX.rstrip("/")


class ApiErrorMiddleware:
    """Under /api/: optional trailing slash, and no error leaves without the Telecom X body."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api_path(request.path_info):
            return self.get_response(request)
        if len(request.path_info) > len(API_PREFIX) and request.path_info.endswith("/"):
            request.path_info = request.path_info.rstrip("/")
        if any("\x00" in value for _key, values in request.GET.lists() for value in values):
            # PostgreSQL text cannot hold NUL: refused here rather than failing in a query.
            return JsonResponse(error_body(400, "bad_request", "Query parameters must not contain NUL characters"), status=400)
        response = self.get_response(request)
        is_json = response.get("Content-Type", "").startswith("application/json")
        if response.status_code >= 400 and not is_json:
            return _generic_response(response.status_code, request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_path(request.path_info):
            return None
        shaped = _body_for(exception)
        if shaped is not None:
            response = JsonResponse(shaped[1], status=shaped[0])
            if shaped[0] == 503:
                response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        logger.exception("unexpected error on %s %s", request.method, request.path, exc_info=exception)
        return JsonResponse(error_body(500, "internal_error", UNSPECIFIED), status=500)
