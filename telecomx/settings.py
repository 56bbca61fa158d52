"""Settings, all from the environment. With nothing set: SQLite, DEBUG off, no services needed.

Every project setting (the ones not Django's own) can be set from an environment variable of
the same name; see docs/settings.md for the list. Values are read through the env_* helpers: a
bad value stops the process with an error naming the variable. Importing this module writes
nothing: the folders it names are made by the processes that use them (telecomx.startup).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import threading
from functools import cache
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.functional import lazy

from core.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("TELECOMX_DATA_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be 0 or 1, not {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if number != number or number in (float("inf"), float("-inf")):  # NaN or infinite
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


_secret_key_lock = threading.Lock()


@cache
def _local_secret_key() -> str:
    # No SECRET_KEY in the environment: a random key kept in the data directory, so a fresh
    # install is never running on a key published in the source. Production sets SECRET_KEY.
    # Made when first used (SECRET_KEY below is lazy), not when the settings are imported.
    # The first requests of a fresh process can ask for it from several threads at once: one of
    # them makes it (each with its own temporary file, or one thread removed another's).
    with _secret_key_lock:
        return _read_or_make_secret_key(DATA_DIR / "secret_key")


def _read_or_make_secret_key(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    tmp = path.with_name(f".secret_key.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    try:
        os.link(tmp, path)  # atomic: of several processes starting at once, the first one wins
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY") or lazy(_local_secret_key, str)()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "console.admin_apps.ConsoleAdminConfig",  # django.contrib.admin with the dashboard as its index
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # The layers, bottom to top (README, "Layout"): core, accounts, callnotify and sbcrules, console.
    "core",
    "accounts",
    "callnotify",
    "sbcrules",
    "console",
]

MIDDLEWARE = [
    "accounts.revocations.middleware",  # outermost: answers once every process applied a credential change
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.requestlog.RequestLogMiddleware",
    "core.requestlog.BodySizeLimitMiddleware",
    "core.errors.ApiErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "telecomx.urls"
WSGI_APPLICATION = "telecomx.wsgi.application"
APPEND_SLASH = False  # /api/ paths take an optional trailing slash (core.errors middleware)

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

_default_db = f"sqlite:///{DATA_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(os.environ.get("DATABASE_URL") or _default_db, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Its folder is made by manage.py, the WSGI app and the Celery worker (telecomx.startup).
    # WAL and IMMEDIATE transactions: the web process and the in-process delivery thread write
    # concurrently; without them SQLite answers "database is locked" under light load.
    # Connections are kept (CONN_MAX_AGE from the URL, 60 s) as for PostgreSQL: opening one per
    # request (and running the PRAGMAs) cost more than a route look-up itself.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }

# PostgreSQL: the statement every API request runs (its credential probe) is prepared once per
# connection (core/db.py); Django prepares nothing by default, for the sake of connection poolers.
# 0 for a pooler that cannot keep prepared statements (PgBouncer before 1.21 in transaction mode).
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("DATABASE_PREPARED_STATEMENTS", True):
    # psycopg's threshold for preparing on its own; Django's cursors bind on the client and never do,
    # so only what core.db.fetch_one runs is prepared.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 2**31 - 1

# An outage is found fast and remembered (core/outage.py): connects give up after
# DATABASE_CONNECT_TIMEOUT / REDIS_TIMEOUT seconds, and a dependency that failed is not tried
# again for DEPENDENCY_RETRY_SECONDS.
DEPENDENCY_RETRY_SECONDS = env_float("DEPENDENCY_RETRY_SECONDS", 1.0)
REDIS_TIMEOUT = env_float("REDIS_TIMEOUT", 0.5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "core.pgbackend"  # PostgreSQL with the database breaker in front
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int("DATABASE_CONNECT_TIMEOUT", 2)
# Credentials this process verified are still taken for route look-ups (only) this long while
# the database does not answer (docs/operations.md, "When a dependency is down").
ROUTING_STALE_CREDENTIALS_SECONDS = env_float("ROUTING_STALE_CREDENTIALS_SECONDS", 900)
# PostgreSQL pushes credential changes to every process (accounts/revocations.py): a credential
# read since is taken without a statement per request; the request that revokes one answers once
# every process has applied it. 0: every request asks the database.
CREDENTIAL_NOTIFICATIONS = env_bool("CREDENTIAL_NOTIFICATIONS", True)

if os.environ.get("CACHE_URL"):
    CACHES = {"default": {
        "BACKEND": "core.cache.RedisWithFallback", "LOCATION": os.environ["CACHE_URL"],  # local memory while Redis is away
        "OPTIONS": {"socket_connect_timeout": REDIS_TIMEOUT, "socket_timeout": REDIS_TIMEOUT},
    }}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "accounts.Employee"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = ["telecomx.formats"]  # the admin's times to the second, with the time zone

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", DATA_DIR / "static"))  # made by telecomx.startup
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # admin assets served even before collectstatic has run

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SECURE_CONTENT_TYPE_NOSNIFF = True
# HTTPS=1: served behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips a
# client's own). Cookies become secure, plain HTTP is redirected (but for the health check that
# load balancers call over HTTP), and browsers are told to stay on HTTPS.
HTTPS = env_bool("HTTPS", False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^api/health(/live|/ready)?/?$", r"^metrics$"]  # load balancers and Prometheus on the node, over HTTP
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    # Whether every subdomain is HTTPS-only, and preloading, are decisions about the operator's
    # whole domain, not this application: off unless set, and then not reported by check --deploy.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    SILENCED_SYSTEM_CHECKS = [
        *(["security.W005"] if not SECURE_HSTS_INCLUDE_SUBDOMAINS else []),
        *(["security.W021"] if not SECURE_HSTS_PRELOAD else []),
    ]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["core.renderers.FastJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.StrictJSONParser"],
    "EXCEPTION_HANDLER": "core.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.schema.TelecomXAutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": [
        "core.throttling.EmployeeRateThrottle",
        "core.throttling.AnonymousRateThrottle",
    ],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "telecomx API",
    "DESCRIPTION": "Call notify and SBC outbound routing, following the public Telecom X API.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api",
    # OpenAPI 3.1 (JSON Schema): a nullable object is `oneOf [object, null]`, which strict
    # validators honour; 3.0's `nullable` beside `allOf` is ignored by them (openapi-core refused
    # a route answer's `"rule": null`).
    "OAS_VERSION": "3.1.0",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Swagger UI's assets from our own static files: the docs page works with no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.schema.add_error_components",
    ],
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    # Closed sets of strings that share values get names of their own.
    "ENUM_NAME_OVERRIDES": {
        "RuleTypeEnum": "sbcrules.models.Rule.Type",
        "DependencyStateEnum": [("ok", "ok"), ("down", "down"), ("not configured", "not configured")],
        "CallTypeEnum": "callnotify.models.CallEvent.Type",
        "CallDirectionEnum": "callnotify.models.CallEvent.Direction",
        "CallStateEnum": "callnotify.models.CallEvent.State",
        "DeliveryStateEnum": "callnotify.models.Delivery.State",
        "CallNotifyStateEnum": "callnotify.models.CallNotify.State",
        "AccessLevelEnum": "accounts.models.AccessLevel",
    },
}

# Logs (docs/operations.md, "Logs"): JSON lines by default, plain text for a terminal.
LOG_FORMAT = os.environ.get("LOG_FORMAT") or "json"
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}")
LOGGING = logging_config(LOG_FORMAT, os.environ.get("LOG_LEVEL") or "INFO")

# --- telecomx settings (each also read from the environment variable of the same name) ---

# Requests per employee, and per anonymous client address (429 beyond).
API_RATE_USER = os.environ.get("API_RATE_USER", "6000/min")
API_RATE_ANON = os.environ.get("API_RATE_ANON", "120/min")
# Requests per service account (holding callnotify.add_callevent or sbcrules.lookup_route): switches, not people.
API_RATE_SERVICE = os.environ.get("API_RATE_SERVICE", "120000/min")
# Largest request body the API reads (413 beyond it).
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

# Minutes a token lives after its last use (docs/api.md §4).
TOKEN_EXPIRY_MINUTES = env_int("TOKEN_EXPIRY_MINUTES", 15)
# Failed logins allowed per user name, and per client address, within LOGIN_FAILURE_WINDOW seconds.
LOGIN_FAILURES_PER_USER = env_int("LOGIN_FAILURES_PER_USER", 5)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", 30)
LOGIN_FAILURE_WINDOW = env_int("LOGIN_FAILURE_WINDOW", 900)
# Proxies in front of the web server that append to X-Forwarded-For (a TLS proxy, a load
# balancer): 0 reads the client address from the connection only; N believes the last N hops.
TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", 0)
REST_FRAMEWORK["NUM_PROXIES"] = TRUSTED_PROXIES  # the anonymous rate limit reads the same address

# Networks a call notify URL may point into although they are not public (comma-separated CIDRs).
CALLNOTIFY_ALLOWED_NETWORKS = env_list("CALLNOTIFY_ALLOWED_NETWORKS", [])
for _network in CALLNOTIFY_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"CALLNOTIFY_ALLOWED_NETWORKS must be comma-separated CIDRs such as 10.20.0.0/16, not {_network!r}"
        ) from None
# Resolve host names at save time and refuse names that do not resolve to allowed addresses.
CALLNOTIFY_RESOLVE_HOSTNAMES = env_bool("CALLNOTIFY_RESOLVE_HOSTNAMES", True)

# Seconds between a process's checks of the routing change marker (sbcrules/index.py): a rule,
# peer or host change reaches every process's look-ups within this plus one index rebuild.
ROUTING_CHECK_INTERVAL = env_float("ROUTING_CHECK_INTERVAL", 0.5)

# --- call event delivery (docs/callevents.md) ---

# Timeouts of one http(s) attempt: connecting, and the whole request (docs/callevents.md §3-4).
CALLNOTIFY_CONNECT_TIMEOUT = env_float("CALLNOTIFY_CONNECT_TIMEOUT", 3)
CALLNOTIFY_REQUEST_TIMEOUT = env_float("CALLNOTIFY_REQUEST_TIMEOUT", 10)
# Extra CA bundle (PEM) to trust for https endpoints besides the system's; tests use their own CA.
CALLNOTIFY_CA_FILE = os.environ.get("CALLNOTIFY_CA_FILE") or None
# Seconds a worker holds a delivery while attempting it; after that it counts as interrupted.
CALLNOTIFY_LEASE_SECONDS = env_int("CALLNOTIFY_LEASE_SECONDS", 60)
# Call notify items one customer may have (the admin raises it for one customer: "Call notify items at most").
CALLNOTIFY_MAX_ENDPOINTS_PER_CUSTOMER = env_int("CALLNOTIFY_MAX_ENDPOINTS_PER_CUSTOMER", 20)
# Attempts in flight at once per endpoint, so one slow endpoint cannot take every worker.
CALLNOTIFY_ENDPOINT_CONCURRENCY = env_int("CALLNOTIFY_ENDPOINT_CONCURRENCY", 4)
# The sweep: how often it runs, and how overdue a delivery must be before it is re-queued.
CALLNOTIFY_SWEEP_SECONDS = env_int("CALLNOTIFY_SWEEP_SECONDS", 30)
CALLNOTIFY_SWEEP_GRACE_SECONDS = env_int("CALLNOTIFY_SWEEP_GRACE_SECONDS", 60)
# Sending threads per process (Celery pool process, or web process with no broker); each carries one connection.
CALLNOTIFY_THREADS = env_int("CALLNOTIFY_THREADS", 32)
# Deliveries claimed at once by one batch, and seconds a batch waits for its sends before it
# records what ended and leaves slow endpoints' attempts to a background thread (docs/callevents.md §6).
# 100: another customer's fresh deliveries wait for a busy customer's batch to end, and a batch over
# many endpoints (one connection each) lasts about as long as its size (bench/README.md).
CALLNOTIFY_BATCH_SIZE = env_int("CALLNOTIFY_BATCH_SIZE", 100)
CALLNOTIFY_BATCH_WAIT = env_float("CALLNOTIFY_BATCH_WAIT", 1)
# A claim takes at most 1/N of each customer's endpoints with due work (at least one), so that N
# batches send side by side in N processes, and asks another process to claim what it left; a
# customer with N batches sending waits while another has work (docs/callevents.md §6).
CALLNOTIFY_CLAIM_SPLIT = env_int("CALLNOTIFY_CLAIM_SPLIT", 2)
# In-process delivery with no broker: "auto" (on in web processes, off under pytest), "on", "off".
CALLNOTIFY_IN_PROCESS = os.environ.get("CALLNOTIFY_IN_PROCESS", "auto")
# Days finished deliveries are kept (prunedeliveries).
CALLNOTIFY_RETENTION_DAYS = env_int("CALLNOTIFY_RETENTION_DAYS", 30)
# Days an endpoint may fail every attempt before it is disabled (0: never), with the reason kept.
CALLNOTIFY_DISABLE_AFTER_DAYS = env_int("CALLNOTIFY_DISABLE_AFTER_DAYS", 5)
# Seconds between flushes of a process's routing decision counts to the dashboard's counters (0: off).
ROUTING_COUNTS_FLUSH_SECONDS = float(os.environ.get("ROUTING_COUNTS_FLUSH_SECONDS") or 10)
# Replays and recoveries (POST …/retry, …/recover) per employee (429 beyond).
API_RATE_REPLAY = os.environ.get("API_RATE_REPLAY", "60/min")

# Celery: unset broker means the web process delivers by itself.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "telecomx")
# A message is acknowledged only after its task ran, and given back if the worker dies meanwhile.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 120)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 90)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's Django fix-up closes every database connection before and after each task unless this
# is set: a new PostgreSQL connection (and server process) per delivery batch. With it, the
# connection is closed every 10,000 tasks, and otherwise kept as CONN_MAX_AGE says: a worker checks
# it before each task as Django does around a request (callnotify/tasks.py).
CELERY_DB_REUSE_MAX = 10_000
# Longer than the longest retry delay (1 h + 20 %), so a waiting retry is not handed out twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 7200)}
# Publishing from a web request must not hang when the broker is down: the sweep catches up.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}

# Test sends (POST .../callnotify/<ID>/test) run in web threads: their deadline in seconds, how
# many may run at once per process (one per customer), and how many a customer may start a minute.
CALLNOTIFY_TEST_TIMEOUT = float(os.environ.get("CALLNOTIFY_TEST_TIMEOUT") or 3)
CALLNOTIFY_TEST_CONCURRENCY = env_int("CALLNOTIFY_TEST_CONCURRENCY", 2)
CALLNOTIFY_TEST_RATE = env_int("CALLNOTIFY_TEST_RATE", 10)

# The API renders JSON only: skip parsing Accept when the client takes JSON (core/negotiation.py).
REST_FRAMEWORK["DEFAULT_CONTENT_NEGOTIATION_CLASS"] = "core.negotiation.JsonFirstNegotiation"

# --- GET /metrics (docs/operations.md, "Metrics") ---

# Who may read /metrics without a token: client addresses in these networks (comma-separated
# CIDRs; the client address is read as for login throttling, TRUSTED_PROXIES included).
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", ["127.0.0.0/8", "::1/128"])
for _network in METRICS_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"METRICS_ALLOWED_NETWORKS must be comma-separated CIDRs such as 10.20.0.0/16, not {_network!r}"
        ) from None
# A bearer token that opens /metrics from anywhere (empty: none does).
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# Seconds the figures read from the database at scrape time (backlog, failing endpoints) are kept.
METRICS_CACHE_SECONDS = env_float("METRICS_CACHE_SECONDS", 5)
