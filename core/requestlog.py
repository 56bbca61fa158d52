"""Every request: its id (X-Request-ID), one log line per API request, and its metrics.

The id is the client's X-Request-ID when it is safe (1-128 of `A-Z a-z 0-9 - _ . : @`), else one
made here; it is answered in X-Request-ID and set for every log line the request causes
(core/logs.py), and stored with the call events it brings in, so their deliveries log it too.

The log line: method, path, status, duration, employee, API key. Never the query string
(`validateToken?token=…`), headers or bodies: tokens and passwords stay out.

Metrics (core/metrics.py): API requests by view and status class, with their latency; route
look-ups' latency, and those answered without the database (Telecomx-Degraded).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse, JsonResponse

from core import metrics, outage
from core.errors import API_PREFIX, TOO_LARGE, error_body
from core.logs import request_id, safe_request_id

logger = logging.getLogger("telecomx.requests")
ROUTE_VIEW = "sbc-route"


class RequestLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        rid = safe_request_id(request.META.get("HTTP_X_REQUEST_ID"))
        token, degraded_token = request_id.set(rid), outage.begin_request()
        try:
            response = self.get_response(request)
            without = outage.degraded()
        finally:
            request_id.reset(token)
            outage.end_request(degraded_token)
        response["X-Request-ID"] = rid
        if without and response.status_code < 500:  # answered from memory (core/outage.py)
            response["Telecomx-Degraded"] = ",".join(sorted(without))
        if request.path.startswith(API_PREFIX):
            elapsed = time.perf_counter() - started
            match = request.resolver_match
            view = (match.url_name if match else None) or "unmatched"
            try:
                count, latency = metrics.request_series(view, response.status_code)
                count.inc()
                latency.observe(elapsed)
                if view == ROUTE_VIEW:
                    metrics.ROUTE_LOOKUP_SECONDS.observe(elapsed)
                    if response.has_header("Telecomx-Degraded"):
                        metrics.ROUTE_LOOKUPS_DEGRADED.inc()
            except Exception:  # noqa: BLE001 - counting never fails a request
                logger.warning("could not count a request", exc_info=True)
            if logger.isEnabledFor(logging.INFO):
                # DRF authenticates inside the view; its user is left on the Django request.
                user = getattr(request, "_telecomx_employee", None)
                line = {
                    "requestId": rid,
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "durationMs": round(elapsed * 1000, 1),
                    "employee": getattr(user, "pk", None),
                }
                key = getattr(request, "_telecomx_api_key", None)
                if key is not None:  # a service account: which of its keys (by id and name), never the key
                    line["apiKey"], line["apiKeyName"] = key.pk, key.name
                logger.info("%s %s %s", request.method, request.path, response.status_code, extra=line)
        return response


class BodySizeLimitMiddleware:
    """413 in the error body for an /api/ request whose body is over API_MAX_BODY_BYTES.

    A chunked body has no Content-Length, and Django would read none of it (a chunked PATCH
    answered 200 having ignored its body): it is read here, at most the limit, and handed on
    with its length, or answered 413.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower() and not request.META.get("CONTENT_LENGTH"):
                body = _read_at_most(request.environ["wsgi.input"], settings.API_MAX_BODY_BYTES + 1)
                if len(body) > settings.API_MAX_BODY_BYTES:
                    return _too_large()
                request.META["CONTENT_LENGTH"] = str(len(body))
                request._stream = LimitedStream(io.BytesIO(body), len(body))  # what WSGIRequest reads the body from
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.API_MAX_BODY_BYTES:
                return _too_large()
        return self.get_response(request)


def _too_large() -> JsonResponse:  # made when answered: every API request passes here
    return JsonResponse(error_body(*TOO_LARGE), status=413)


def _read_at_most(stream: io.RawIOBase, limit: int) -> bytes:
    parts, size = [], 0
    while size < limit:
        chunk = stream.read(min(65536, limit - size))
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)
