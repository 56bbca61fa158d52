"""Prometheus metrics of this node: the catalogue (docs/operations.md, "Metrics") and how one
scrape adds up every process of the node.

Each process counts into memory-mapped files in PROMETHEUS_MULTIPROC_DIR (prometheus_client's
multiprocess mode); GET /metrics, answered by any one web worker, reads all of them. gunicorn's
configuration makes a directory for its workers when none is set; the systemd units give web and
worker one shared directory, so a Celery worker's attempts are in the web node's scrape.

Processes come and go (gunicorn recycles workers every max_requests, Celery its pool): a dead
process's files would pile up and every scrape would read them all. The scrape therefore folds
the files of processes that have ended into one archive file per type (counters and histograms
only grow, so their sum is kept exactly) and deletes them, under a lock, so counters never go
back while the node runs. Without PROMETHEUS_MULTIPROC_DIR (manage.py, the test suite) the
metrics live in the process and /metrics shows that one process.

Labels have bounded values only: a reason, an outcome, a format, a transport, a view name, a
status class. Never an id, a number or a URL.
"""

from __future__ import annotations

import fcntl
import glob
import logging
import os
from collections.abc import Iterable, Iterator

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
prometheus_client.disable_created_metrics()  # *_created series: noise for counters that never reset

# Route look-ups: from a few hundred microseconds (the index is in memory) to the request timeout.
LOOKUP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# From an event's arrival to its delivery: milliseconds when all is well, up to the retry
# schedule's hours when an endpoint was down.
DELIVERY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0)

ROUTE_LOOKUPS = Counter(
    "telecomx_route_lookups", "Route look-ups answered, by reason: the step that decided or why there is no peer.", ["reason"])
ROUTE_LOOKUPS_DEGRADED = Counter(
    "telecomx_route_lookups_degraded", "Route look-ups answered without the database (Telecomx-Degraded), from memory.")
ROUTE_LOOKUP_SECONDS = Histogram(
    "telecomx_route_lookup_duration_seconds", "Time to answer a route look-up, in the web process.", buckets=LOOKUP_BUCKETS)
HTTP_REQUESTS = Counter(
    "telecomx_http_requests", "API requests answered, by view (URL name) and status class.", ["view", "status_class"])
HTTP_REQUEST_SECONDS = Histogram(
    "telecomx_http_request_duration_seconds", "Time to answer an API request, by view.", ["view"], buckets=REQUEST_BUCKETS)
EVENTS_INGESTED = Counter("telecomx_call_events_ingested", "Call events accepted and stored.")
DELIVERY_ATTEMPTS = Counter(
    "telecomx_delivery_attempts", "Delivery attempts, by outcome, the endpoint's format and its transport.",
    ["outcome", "format", "transport"])
DELIVERIES_FINISHED = Counter("telecomx_deliveries_finished", "Deliveries that ended, by final state.", ["state"])
EVENT_TO_DELIVERY_SECONDS = Histogram(
    "telecomx_event_to_delivery_seconds", "From a call event's arrival to its delivery to one endpoint (delivered ones).",
    buckets=DELIVERY_BUCKETS)

CATALOGUE = (ROUTE_LOOKUPS, ROUTE_LOOKUPS_DEGRADED, ROUTE_LOOKUP_SECONDS, HTTP_REQUESTS, HTTP_REQUEST_SECONDS,
             EVENTS_INGESTED, DELIVERY_ATTEMPTS, DELIVERIES_FINISHED, EVENT_TO_DELIVERY_SECONDS)


for _status_class in ("2xx", "4xx", "5xx"):  # the route look-ups' series alerts watch, from the start
    HTTP_REQUESTS.labels("sbc-route", _status_class)


def status_class(status: int) -> str:
    return f"{status // 100}xx"


_request_series: dict[tuple[str, int], tuple] = {}


def request_series(view: str, status: int) -> tuple:
    """The (HTTP_REQUESTS, HTTP_REQUEST_SECONDS) series of a view and status, kept once found:
    `labels()` checks, locks and looks up on every call, twice a request. reset() zeroes these
    same series in place, so what is kept stays counted."""
    key = (view, status)
    found = _request_series.get(key)
    if found is None:
        found = (HTTP_REQUESTS.labels(view, status_class(status)), HTTP_REQUEST_SECONDS.labels(view))
        if len(_request_series) < 10_000:  # views × statuses: a few hundred (the bound is only a guard)
            _request_series[key] = found
    return found


def reset() -> None:
    """Tests only: this process's counts back to zero (each test starts as a fresh process)."""
    for metric in CATALOGUE:
        for child in list(metric._metrics.values()) if metric._labelnames else [metric]:
            child._metric_init()


# --- reading them: one node, every process -------------------------------------------------

ARCHIVE = "archive"  # the file-name "pid" of the folded files: counter_archive.db, histogram_archive.db
_FOLDED_TYPES = ("counter", "histogram")


def _owner(path: str) -> tuple[str, str]:
    """(type, pid) of a file named <type>_<pid>.db or gauge_<mode>_<pid>.db."""
    parts = os.path.basename(path)[:-3].split("_")
    return parts[0], parts[-1]


def _alive(pid: str) -> bool:
    if pid == ARCHIVE:
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True  # another user's process (or a name we do not know): not ours to fold
    return True


def _fold(directory: str, files: list[str]) -> None:
    """Adds the files of ended processes into the archive files and deletes them."""
    by_type: dict[str, list[str]] = {}
    for path in files:
        typ, pid = _owner(path)
        if _alive(pid):
            continue
        if typ in _FOLDED_TYPES:
            by_type.setdefault(typ, []).append(path)
        elif typ == "gauge" and os.path.basename(path).startswith("gauge_live"):
            os.remove(path)  # a live gauge of an ended process no longer counts
    for typ, ended in by_type.items():
        archive = os.path.join(directory, f"{typ}_{ARCHIVE}.db")
        sources = ([archive] if os.path.exists(archive) else []) + ended
        merged = MultiProcessCollector.merge(sources, accumulate=False)
        scratch = os.path.join(directory, f"{typ}_{ARCHIVE}.db.new")  # not *.db: never read as a process's file
        if os.path.exists(scratch):
            os.remove(scratch)
        out = MmapedDict(scratch)
        for metric in merged:
            for sample in metric.samples:
                key = mmap_key(metric.name, sample.name, list(sample.labels), list(sample.labels.values()), metric.documentation)
                out.write_value(key, sample.value, 0.0)
        out.close()
        os.replace(scratch, archive)
        for path in ended:
            os.remove(path)


class NodeCollector:
    """Every process's metrics in PROMETHEUS_MULTIPROC_DIR, added up; ended processes folded first."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def collect(self) -> Iterator[Metric]:
        try:
            lock = open(os.path.join(self.directory, "scrape.lock"), "a")  # noqa: SIM115
        except OSError:  # a folder this process may not write: read it as it is, without folding
            lock = None
        try:
            if lock is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)  # one scrape of the node at a time: folding rewrites files
            files = glob.glob(os.path.join(self.directory, "*.db"))
            if lock is not None and any(not _alive(_owner(path)[1]) for path in files):
                try:
                    _fold(self.directory, files)
                except OSError:
                    logging.getLogger("core.metrics").warning("could not fold ended processes' metrics", exc_info=True)
                files = glob.glob(os.path.join(self.directory, "*.db"))
            metrics = list(MultiProcessCollector.merge(files, accumulate=True))
        finally:
            if lock is not None:
                lock.close()
        yield from metrics


class ProcessCollector:
    """This process's own metrics (no PROMETHEUS_MULTIPROC_DIR)."""

    def collect(self) -> Iterator[Metric]:
        for metric in CATALOGUE:
            yield from metric.collect()


def registry(*scrape_time: object) -> CollectorRegistry:
    """A registry of the node's counters (or this process's), plus collectors read at scrape time."""
    result = CollectorRegistry(auto_describe=False)
    result.register(NodeCollector(MULTIPROC_DIR) if MULTIPROC_DIR else ProcessCollector())
    for collector in scrape_time:
        result.register(collector)  # type: ignore[arg-type]
    return result


def counter_values(name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The node's (or this process's) values of one counter, by label set: what /api/metrics reports."""
    collector = NodeCollector(MULTIPROC_DIR) if MULTIPROC_DIR else ProcessCollector()
    values: dict[tuple[tuple[str, str], ...], float] = {}
    for metric in collector.collect():
        if metric.name == name:
            for sample in metric.samples:
                if sample.name == name + "_total":
                    values[tuple(sorted(sample.labels.items()))] = sample.value
    return values
