"""GET /metrics: this node's metrics in Prometheus's text format (docs/operations.md, "Metrics").

Outside /api, where Prometheus looks for it. Open to METRICS_ALLOWED_NETWORKS (default loopback
only) or a bearer METRICS_TOKEN; anyone else gets 404 (403 for a wrong token). Counters and
histograms come from every process of the node (core.metrics); the figures that live in the
database (backlog, failing endpoints) are read here, at scrape time, with two indexed queries,
kept METRICS_CACHE_SECONDS in the cache (the shared one when CACHE_URL is set), so several
Prometheus servers and several web workers cost one read.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
import time
from collections.abc import Iterator
from functools import cache as once

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric

from accounts.views import client_address
from callnotify.endpoint_health import failing
from callnotify.sweep import backlog
from console.health import NOT_CONFIGURED, dependencies
from core import metrics
from sbcrules.index import routing_index

logger = logging.getLogger("console.prometheus")
CACHE_KEY = "telecomx:metrics:database"


@once
def _networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n, strict=False) for n in settings.METRICS_ALLOWED_NETWORKS]


def access(request: HttpRequest) -> int:
    """200, or the status to refuse with: 403 for a wrong token, 404 for anyone else."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header and settings.METRICS_TOKEN:
        scheme, _, given = header.partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), settings.METRICS_TOKEN.encode())
        return 200 if ok else 403
    try:
        address = ipaddress.ip_address(client_address(request))  # type: ignore[arg-type]
    except ValueError:
        return 404
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return 200 if any(address in network for network in _networks()) else 404


def database_figures() -> dict[str, float] | None:
    """Backlog and failing endpoints: from the cache, or read now (2 statements) and cached."""
    try:
        figures = cache.get(CACHE_KEY)
    except Exception:  # noqa: BLE001 - the cache may be down; read the database then
        figures = None
    if figures is not None:
        return figures
    now = timezone.now()
    try:
        figures = {**backlog(now), **failing(now)}
    except Exception:  # noqa: BLE001 - the database is down: these series go missing, the rest stays
        logger.warning("metrics: cannot read the backlog from the database", exc_info=True)
        return None
    try:
        cache.set(CACHE_KEY, figures, settings.METRICS_CACHE_SECONDS)
    except Exception:  # noqa: BLE001
        pass
    return figures


def dependency_states() -> dict[str, bool]:
    """database, cache and broker: reachable from this process? (The health check's probes; a
    cache or broker the node does not use is left out.)"""
    return {name: state == "ok" for name, state in dependencies().items() if state != NOT_CONFIGURED}


GAUGES = {
    "pending": ("telecomx_deliveries_pending", "Deliveries waiting to be delivered (PENDING), held ones included."),
    "due": ("telecomx_deliveries_due", "Pending deliveries due now and not held behind an earlier event of their call."),
    "held": ("telecomx_deliveries_held", "Pending deliveries past their time by more than CALLNOTIFY_SWEEP_GRACE_SECONDS but held "
             "behind an earlier event of the same call at the same endpoint: waiting their turn, not overdue."),
    "overdue": ("telecomx_deliveries_overdue", "Pending deliveries past their time by more than CALLNOTIFY_SWEEP_GRACE_SECONDS "
                "that nothing holds (no attempt under way, no earlier event of their call before them)."),
    "oldestDueAgeSeconds": ("telecomx_deliveries_oldest_due_age_seconds", "How long the oldest due delivery (not held) has waited past its time; 0 when none is due."),
    "failingEndpoints": ("telecomx_endpoints_failing", "Active endpoints whose every attempt has failed since their last success."),
    "longestFailingSeconds": ("telecomx_endpoints_failing_longest_seconds", "How long the active endpoint failing longest has failed; 0 when none is."),
}


class ScrapeTime:
    """The series read when Prometheus asks, not counted as things happen."""

    def collect(self) -> Iterator[Metric]:
        figures = database_figures()
        if figures is not None:
            for key, (name, documentation) in GAUGES.items():
                yield GaugeMetricFamily(name, documentation, value=figures[key])
        up = GaugeMetricFamily("telecomx_dependency_up", "1 when this web process reaches the dependency, 0 when not.",
                               labels=["dependency"])
        for dependency, ok in dependency_states().items():
            up.add_metric([dependency], 1.0 if ok else 0.0)
        yield up
        age = routing_index_age()
        if age is not None:
            yield GaugeMetricFamily("telecomx_routing_index_age_seconds",
                                    "Seconds since the answering web process last checked its routing rules against the database.",
                                    value=age)


def routing_index_age() -> float | None:
    try:
        routing_index.current()  # checks the change marker when due, as a look-up would
    except Exception:  # noqa: BLE001 - the database is down: the index is as old as its last check
        pass
    checked = routing_index.checked_at
    return None if checked is None or math.isinf(checked) else round(max(0.0, time.monotonic() - checked), 3)


def metrics_view(request: HttpRequest) -> HttpResponse:
    status = access(request)
    if status != 200:
        return HttpResponse(status=status)
    body = generate_latest(metrics.registry(ScrapeTime()))
    return HttpResponse(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)
