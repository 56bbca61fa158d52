"""gunicorn settings for production: `gunicorn -c telecomx/gunicorn.conf.py telecomx.wsgi`.

Threads, not only processes: a request mostly waits on the database, and threads share one
routing index per process. WEB_CONCURRENCY and WEB_THREADS override the defaults.

Logs: gunicorn's own lines in the project's format (core/logs.py: JSON, or LOG_FORMAT=text);
its access log only with WEB_ACCESS_LOG=1 (the application's request log has every API request
with more in it). Metrics: the workers count into PROMETHEUS_MULTIPROC_DIR, made here for this
server when the environment names none (bin/run), so GET /metrics adds up every worker.
"""

import multiprocessing
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project, for core.logs

from gunicorn.glogging import Logger  # noqa: E402

from core.logs import logging_config  # noqa: E402

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", 4))
timeout = int(os.environ.get("WEB_TIMEOUT", 30))
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then (a slow leak never becomes an outage); not while the database is
# down (pre_request). WEB_MAX_REQUESTS overrides the 10,000.
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", 10000))
max_requests_jitter = max_requests // 10
accesslog = None  # core.requestlog says more, without tokens; WEB_ACCESS_LOG=1 adds gunicorn's
errorlog = "-"
logconfig_dict = logging_config(os.environ.get("LOG_FORMAT") or "json", os.environ.get("LOG_LEVEL") or "INFO")
# Never the query string (a token may be in it): method, path and status; core.logs adds the
# request id (the X-Request-ID the application answered) and the duration as fields.
access_log_format = "%(m)s %(U)s %(s)s"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn 27's control socket: one fixed path (~/.gunicorn/gunicorn.ctl) that every instance of
# the user would take from each other, and under the systemd unit a read-only home (a warning at
# every start). Nothing here uses it: systemd (reload, stop) and signals do.
control_socket_disable = True
# The workers' heartbeat file is touched on every turn of their loop: in memory, not on a disk
# (profiled at 0.36 ms per request on this machine's /tmp).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def _json_error(sock, status_int, reason, mesg):  # type: ignore[no-untyped-def]
    """gunicorn's own answers (request line or headers too long, malformed request) in the API's
    error body instead of its HTML page: they come before Django, so Django cannot shape them."""
    import json

    from gunicorn.util import write_nonblock

    from core.errors import error_body  # the worker has loaded the app by now

    code = "too_large" if status_int in (413, 414, 431) else "bad_request" if status_int < 500 else "internal_error"
    body = json.dumps(error_body(status_int, code, reason)).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin1")
    write_nonblock(sock, head + body)


def post_fork(server, worker):  # type: ignore[no-untyped-def]
    from gunicorn import util

    util.write_error = _json_error  # the one function gunicorn's workers write their error pages with


class _Logger(Logger):
    """gunicorn's logger, writing an access line only when WEB_ACCESS_LOG=1: with a logconfig_dict
    gunicorn would otherwise build one for every request, to be dropped."""

    def access(self, resp, req, environ, request_time):  # type: ignore[no-untyped-def]
        if os.environ.get("WEB_ACCESS_LOG", "").lower() in ("1", "true", "yes", "on"):
            super().access(resp, req, environ, request_time)


logger_class = _Logger


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    from telecomx.startup import warm_up  # the app is loaded by now

    warm_up()


def pre_request(worker, req):  # type: ignore[no-untyped-def]
    """No recycling (max_requests) while the database is down: a fresh worker could load neither the
    routing index nor a credential, and would refuse every look-up until the database is back.
    The worker is recycled 1,000 requests after the database answers again, not in the moment
    it comes back (when connections through a failover may still fail for a while)."""
    from core import outage

    if outage.database.down:
        worker.max_requests = max(worker.max_requests, worker.nr + 1000)


def on_starting(server):  # type: ignore[no-untyped-def]
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # the workers inherit it: they fork after this
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = server.telecomx_metrics_dir = tempfile.mkdtemp(prefix="telecomx-metrics-")


def on_exit(server):  # type: ignore[no-untyped-def]
    made = getattr(server, "telecomx_metrics_dir", None)
    if made:
        shutil.rmtree(made, ignore_errors=True)
