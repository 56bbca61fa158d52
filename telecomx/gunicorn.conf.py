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
accesslog = None  # telecomx.requestlog says more, without tokens
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
