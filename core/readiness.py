"""GET /api/health: is this process able to serve (database, and the broker when one is configured)?"""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.docs import documented


@extend_schema_serializer(description="Whether this process can serve.")
class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "failing"])
    database = serializers.CharField()
    broker = serializers.CharField(help_text="`ok`, `failing` or `not configured`")


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # noqa: BLE001 - any failure means "not healthy", never a 500
        return "failing"
    return "ok"


def _broker() -> str:
    url = settings.CELERY_BROKER_URL
    if not url:
        return "not configured"
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2) as broker:
            broker.ensure_connection(max_retries=1, timeout=2)
    except Exception:  # noqa: BLE001
        return "failing"
    return "ok"


class HealthView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []  # load balancers poll it

    @documented(
        description="Whether this process can serve: 200 when its database (and broker, where one is configured) answer, "
        "503 otherwise. No login needed; for load balancers.",
        response_example={"status": "ok", "database": "ok", "broker": "not configured"},
        responses={200: HealthSerializer, 503: HealthSerializer}, auth=[],
    )
    def get(self, request: Request) -> Response:
        body = {"database": _database(), "broker": _broker()}
        healthy = body["database"] == "ok" and body["broker"] in ("ok", "not configured")
        return Response({"status": "ok" if healthy else "failing", **body}, status=200 if healthy else 503)
