"""gunicorn settings for production: `gunicorn -c telecomx/gunicorn.conf.py telecomx.wsgi`.

Threads, not only processes: a request mostly waits on the database, and threads share one
routing index per process. WEB_CONCURRENCY and WEB_THREADS override the defaults.
"""

import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", 4))
timeout = int(os.environ.get("WEB_TIMEOUT", 30))
graceful_timeout = 20
keepalive = 5
max_requests = 10000  # recycle workers now and then (a slow leak never becomes an outage)
max_requests_jitter = 1000
accesslog = None  # core.requestlog says more, without tokens
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
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
