"""GET /metrics: who may read it, what it says, and what reading it costs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import AccessLevel
from callnotify import endpoint_health
from callnotify.models import CallNotify, Delivery
from callnotify.sweep import backlog
from tests.accounts.factories import EmployeeFactory
from tests.callnotify.factories import CallNotifyFactory, post_event
from sbcrules.index import routing_index
from tests.sbcrules.factories import PeerFactory, RuleFactory

pytestmark = pytest.mark.django_db

CATALOGUE = {
    "telecomx_route_lookups_total", "telecomx_route_lookups_degraded_total", "telecomx_route_lookup_duration_seconds_count",
    "telecomx_http_requests_total", "telecomx_http_request_duration_seconds_count", "telecomx_call_events_ingested_total",
    "telecomx_delivery_attempts_total", "telecomx_deliveries_finished_total", "telecomx_event_to_delivery_seconds_count",
    "telecomx_deliveries_pending", "telecomx_deliveries_due", "telecomx_deliveries_held", "telecomx_deliveries_overdue",
    "telecomx_deliveries_oldest_due_age_seconds", "telecomx_endpoints_failing", "telecomx_endpoints_failing_longest_seconds",
    "telecomx_dependency_up", "telecomx_routing_index_age_seconds",
}


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def samples(response) -> dict[tuple[str, tuple], float]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.content.decode()) for s in family.samples}


def test_the_catalogue_with_bounded_labels(client, client_for, settings, django_capture_on_commit_callbacks):
    settings.CELERY_BROKER_URL = ""
    tdc = PeerFactory(id="TDC", is_default=True)
    RuleFactory(condition="+4570", peer=tdc)
    admin = client_for(EmployeeFactory(access_level=AccessLevel.ADMIN))
    assert admin.get("/api/sbc/route", {"bnumber": "+4570305050"}).status_code == 200
    assert admin.get("/api/sbc/route", {"bnumber": "+4412345678"}).status_code == 200
    assert admin.get("/api/sbc/route", {"bnumber": "nonsense"}).status_code == 422
    with django_capture_on_commit_callbacks(execute=True):  # counted once the event is committed
        post_event(CallNotifyFactory().customer)

    found = samples(client.get("/metrics"))

    assert CATALOGUE <= {name for name, _ in found}
    assert found[("telecomx_route_lookups_total", (("reason", "prefix"),))] == 1
    assert found[("telecomx_route_lookups_total", (("reason", "default"),))] == 1
    assert found[("telecomx_http_requests_total", (("status_class", "2xx"), ("view", "sbc-route")))] == 2
    assert found[("telecomx_http_requests_total", (("status_class", "4xx"), ("view", "sbc-route")))] == 1
    assert found[("telecomx_route_lookup_duration_seconds_count", ())] == 3
    assert found[("telecomx_call_events_ingested_total", ())] == 1
    assert found[("telecomx_deliveries_pending", ())] == 1
    assert found[("telecomx_dependency_up", (("dependency", "database"),))] == 1
    assert ("telecomx_dependency_up", (("dependency", "broker"),)) not in found  # none configured
    assert ("telecomx_dependency_up", (("dependency", "cache"),)) not in found  # this process's own memory
    assert 0 <= found[("telecomx_routing_index_age_seconds", ())] < 5
    # Labels: reasons, outcomes, formats, transports, views, status classes; never an id, a number or a URL.
    allowed = {"reason", "view", "status_class", "outcome", "format", "transport", "state", "dependency", "le"}
    assert {key for _, labels in found for key, _ in labels} <= allowed
    values = " ".join(value for _, labels in found for _, value in labels)
    assert "+45" not in values and "127.0.0.1" not in values and "http://" not in values


def test_open_to_loopback_and_the_allowed_networks_or_the_token(client, settings):
    settings.METRICS_TOKEN = "scrape-token-123"
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION="Bearer scrape-token-123").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic c2NyYXBl").status_code == 403
    # Behind one proxy the client is the address it saw: a stranger through the proxy is refused.
    settings.TRUSTED_PROXIES = 1
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 404
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 200


def test_allowed_networks_come_from_the_setting(client, settings):
    from console import prometheus

    settings.METRICS_ALLOWED_NETWORKS = ["203.0.113.0/24"]
    prometheus._networks.cache_clear()
    try:
        assert client.get("/metrics", REMOTE_ADDR="203.0.113.5").status_code == 200
        assert client.get("/metrics").status_code == 404  # loopback is no longer in the list
    finally:
        prometheus._networks.cache_clear()


def test_without_a_token_set_no_token_opens_it(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_database_figures_cost_two_statements_and_are_cached(client, settings, django_assert_num_queries):
    settings.METRICS_CACHE_SECONDS = 60
    settings.ROUTING_CHECK_INTERVAL = 0  # the index is checked at every scrape: a fixed count
    endpoint = CallNotifyFactory()
    for n in range(20):
        post_event(endpoint.customer, call_id=f"c-{n}")
    routing_index.current()  # a running process has its index already
    health_table, delivery_table = "callnotify_endpointhealth", Delivery._meta.db_table

    # The backlog and the failing endpoints, the database probe, the routing change marker.
    with django_assert_num_queries(4) as captured:
        first = samples(client.get("/metrics"))
    reading = [q["sql"] for q in captured.captured_queries if delivery_table in q["sql"] or health_table in q["sql"]]
    assert len(reading) == 2

    for n in range(20, 25):
        post_event(endpoint.customer, call_id=f"c-{n}")
    with django_assert_num_queries(2):  # within METRICS_CACHE_SECONDS: the probe and the marker only
        second = samples(client.get("/metrics"))
    assert first[("telecomx_deliveries_pending", ())] == second[("telecomx_deliveries_pending", ())] == 20  # from the cache

    cache.clear()  # the cache's time is up
    assert samples(client.get("/metrics"))[("telecomx_deliveries_pending", ())] == 25


def test_held_deliveries_are_counted_apart_from_due_and_overdue(settings):
    settings.CALLNOTIFY_SWEEP_GRACE_SECONDS = 60
    endpoint = CallNotifyFactory()
    now = timezone.now()
    for n in range(3):
        post_event(endpoint.customer, call_id=f"h-{n}")
        post_event(endpoint.customer, call_id=f"h-{n}", state="ANSWERED")  # held behind its RINGING
        post_event(endpoint.customer, call_id=f"h-{n}", state="HANGUP")  # held too
    # h-0: overdue by ten minutes (all three of its deliveries past their time); h-1: due 30 s ago
    # (due, not yet overdue); h-2: due in the future (a retry waiting).
    Delivery.objects.filter(call_id="h-0").update(next_attempt_at=now - timedelta(minutes=10))
    Delivery.objects.filter(call_id="h-1").update(next_attempt_at=now - timedelta(seconds=30))
    Delivery.objects.filter(call_id="h-2").update(next_attempt_at=now + timedelta(minutes=5))

    # held: late like h-0's RINGING, but behind it (h-1's are not late yet, h-2's not due).
    assert backlog(now) == {"pending": 9, "held": 2, "due": 2, "overdue": 1, "oldestDueAgeSeconds": 600.0}

    Delivery.objects.filter(call_id="h-0", sequence=1).update(state="DELIVERED")  # the first is out: ANSWERED is due, HANGUP held
    figures = backlog(now)
    assert (figures["pending"], figures["held"], figures["due"], figures["overdue"]) == (8, 1, 2, 1)

    Delivery.objects.filter(call_id="h-0").update(lease_until=now + timedelta(seconds=30))  # being attempted: not overdue
    assert backlog(now)["overdue"] == 0


def test_failing_endpoints_and_how_long(settings):
    now = timezone.now()
    failing, recovered, disabled = CallNotifyFactory(), CallNotifyFactory(), CallNotifyFactory()
    endpoint_health.record([
        endpoint_health.Outcome(failing.pk, None, "RETRY", 10, now - timedelta(hours=2)),
        endpoint_health.Outcome(failing.pk, None, "RETRY", 10, now - timedelta(hours=1)),
        endpoint_health.Outcome(recovered.pk, None, "RETRY", 10, now - timedelta(hours=3)),
        endpoint_health.Outcome(recovered.pk, None, "DELIVERED", 10, now - timedelta(minutes=1)),
        endpoint_health.Outcome(disabled.pk, None, "FAILED", 10, now - timedelta(hours=5)),
    ], now=now)
    CallNotify.objects.filter(pk=disabled.pk).update(state=CallNotify.State.DISABLED)
    assert endpoint_health.failing(now) == {"failingEndpoints": 1, "longestFailingSeconds": 7200.0}


def test_with_https_prometheus_still_scrapes_over_plain_http(settings):
    """HTTPS=1 redirects plain HTTP to HTTPS, but a Prometheus on the node scrapes gunicorn over HTTP."""
    import json
    import os
    import subprocess
    import sys

    from django.test import Client

    code = "import json, telecomx.settings as s; print(json.dumps(s.SECURE_REDIRECT_EXEMPT))"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "HTTPS": "1"}, capture_output=True, text=True, check=True)
    settings.SECURE_SSL_REDIRECT, settings.SECURE_REDIRECT_EXEMPT = True, json.loads(out.stdout)
    client = Client()
    assert client.get("/metrics").status_code == 200
    assert client.get("/api/health").status_code in (200, 503)
    assert client.get("/api/sbc/route").status_code == 301
