"""Health for load balancers (docs/operations.md, "Health checks"): no credential, nothing but states.

- `GET /api/health/live`: the process serves requests (200). A balancer or supervisor restarts a
  node that stops answering it.
- `GET /api/health/ready` (and `GET /api/health`, the same): this node can do its job, which for
  a web node is answering route look-ups. 200 while its routing index is loaded, also while the
  database or Redis is down (look-ups are then answered from memory); 503 only when it has no
  index and cannot load one. The body gives each dependency's state and how long ago the index
  was last confirmed against the database.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import outage
from core.docs import documented
from sbcrules.index import routing_index

NOT_CONFIGURED = "not configured"


def database_state() -> str:
    if outage.database.is_open():
        return "down"
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure is "down", never a 500
        if outage.is_database_unreachable(exc):
            outage.database.trip()
        return "down"
    return "ok"


def cache_state() -> str:
    reachable = getattr(cache, "reachable", None)
    if reachable is None:
        return NOT_CONFIGURED  # this process's own memory (no CACHE_URL)
    return "ok" if reachable() else "down"


def broker_state() -> str:
    url = settings.CELERY_BROKER_URL
    if not url:
        return NOT_CONFIGURED  # the in-process runner delivers
    if outage.broker.is_open():
        return "down"
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=settings.REDIS_TIMEOUT) as broker:
            broker.ensure_connection(max_retries=1, timeout=settings.REDIS_TIMEOUT)
    except Exception:  # noqa: BLE001
        outage.broker.trip()
        return "down"
    return "ok"


def dependencies() -> dict[str, str]:
    return {"database": database_state(), "cache": cache_state(), "broker": broker_state()}


@extend_schema_serializer(description="Whether this node can answer route look-ups, and the state of what it uses.")
class ReadySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "failing"])
    database = serializers.ChoiceField(choices=["ok", "down"])
    cache = serializers.ChoiceField(choices=["ok", "down", NOT_CONFIGURED])
    broker = serializers.ChoiceField(choices=["ok", "down", NOT_CONFIGURED])
    indexAgeSeconds = serializers.FloatField(
        allow_null=True, help_text="seconds since this process last confirmed its routing index against the database; "
        "null before it has loaded one")


@extend_schema_serializer(description="The process serves requests.")
class LiveSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok"])


class _Health(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []  # load balancers poll it


class ReadyView(_Health):
    @documented(
        description="Whether this node can answer route look-ups: 200 while its routing index is loaded — also while the "
        "database, the cache or the broker is down, since look-ups are then answered from memory — and 503 only when it "
        "has no index and cannot load one. Each dependency's state is `ok` or `down` (`not configured` for a cache or "
        "broker the node does not use). `GET /api/health` is the same. No login needed; for load balancers.",
        response_example={"status": "ok", "database": "ok", "cache": "not configured", "broker": "not configured",
                          "indexAgeSeconds": 0.2},
        responses={200: ReadySerializer, 503: ReadySerializer}, auth=[],
    )
    def get(self, request: Request) -> Response:
        body: dict[str, object] = dependencies()
        try:
            if body["database"] == "ok" or routing_index.confirmed_at is not None:
                routing_index.current()  # loads the index when this process has none yet
            ready = routing_index.confirmed_at is not None
        except Exception:  # noqa: BLE001 - no index and none to be had: not ready
            ready = False
        confirmed = routing_index.confirmed_at
        body["indexAgeSeconds"] = round(time.monotonic() - confirmed, 1) if confirmed is not None else None
        return Response({"status": "ok" if ready else "failing", **body}, status=200 if ready else 503)


class LiveView(_Health):
    @documented(
        description="The process is serving requests: always 200 when it answers at all. No login needed; for "
        "supervisors and load balancers.",
        response_example={"status": "ok"}, responses={200: LiveSerializer}, auth=[],
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})
