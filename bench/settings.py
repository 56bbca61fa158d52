"""Settings for bench/api.py: the product's own, plus bare Django views to compare against."""

from telecomx.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
API_RATE_USER = "100000000/min"  # the benchmark measures serving, not the rate limit
API_RATE_ANON = "100000000/min"
LOGGING["root"]["level"] = "WARNING"  # noqa: F405 - a log line per request would be measured too
# The benchmark's call notify items point at 127.0.0.1 (port 9, where nothing listens): loopback
# only, so nothing leaves the machine even if delivery were on.
CALLNOTIFY_ALLOWED_NETWORKS = ["127.0.0.1/32"]
