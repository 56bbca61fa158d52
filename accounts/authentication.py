"""Bearer credentials (docs/api.md §4): session tokens (15 minutes from last use) and service accounts'
API keys (long-lived, revoked by ADMIN; also taken as HTTP Basic credentials, the key as the user
name). Only SHA-256 hashes of either are stored.

Every request reads its credential, its employee and the employee's customer in ONE query, with
the check that no customer above is DELETED, in plain SQL written once per process: the ORM's
version of the same query spent about 1 ms per request compiling SQL (the look-up itself is a
primary-key probe). On PostgreSQL a credential this process read before is confirmed by the same
query answering only a SHA-256 of its row (_load), or, with CREDENTIAL_NOTIFICATIONS on (the default) and while the
process listens to the database's notifications of credential changes (accounts/revocations.py), by nothing at all: a change drops
it in every process at its commit. So a token ended or a key revoked stops working on the next
request, in every process.

While the database does not answer (core/outage.py), a credential this process verified within
ROUTING_STALE_CREDENTIALS_SECONDS is still taken, for views that can answer without the database
(`works_without_database`: the route look-up) and for nothing else; every other request is
answered 503 `unavailable`. A credential refused while the database answers is forgotten at once.
"""

from __future__ import annotations

import base64
import binascii
import time
from copy import copy
from datetime import timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models.base import ModelState
from django.utils import timezone
from rest_framework import HTTP_HEADER_ENCODING
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from accounts import revocations
from accounts.models import API_KEY_PREFIX, ApiKey, Customer, Employee, Token, hash_token
from core import outage
from core.db import fetch_one
from core.errors import ApiError

# A token's expiry is pushed forward at most this often, so a busy client does not write a row
# on every request; the expiry it sees is at most this much shorter than the full window.
TOUCH_INTERVAL = timedelta(seconds=30)

UNDECIPHERABLE = ("invalid_token", "Undecipherable")
LOGIN_AGAIN = ("credentials_invalid", "Authorization required, please login")
EXPIRED = ("expired", "Session has expired, please login")
FORMAT_ERROR = ("format_error", "Authorization header format is Authorization: Bearer <token>")


def _columns(model: type) -> list[str]:
    return [field.column for field in model._meta.concrete_fields]


@cache
def _credential_sql(kind: str) -> tuple[str, str | None, int, int]:
    """SELECT credential.*, employee.*, customer.*, [permissions,] deleted-above[, stamp] FROM … WHERE key_hash = %s;
    on PostgreSQL also the same query answering only the stamp."""
    model = Token if kind == "token" else ApiKey
    employee, customer = Employee._meta.db_table, Customer._meta.db_table
    fields = [
        *(f"k.{c}" for c in _columns(model)), *(f"e.{c}" for c in _columns(Employee)), *(f"c.{c}" for c in _columns(Customer)),
    ]
    # Resellers above the customer, nearest first; nothing reaches through a DELETED one (docs/api.md §3).
    # (A customer with no reseller above, such as the operator's switches' own, skips the walk.)
    deleted_above = (
        f"CASE WHEN c.parent_reseller_id IS NULL THEN 0 ELSE (WITH RECURSIVE up(id, parent, state) AS ("
        f" SELECT p.id, p.parent_reseller_id, p.state FROM {customer} p WHERE p.id = c.parent_reseller_id"
        f" UNION SELECT p.id, p.parent_reseller_id, p.state FROM {customer} p JOIN up ON p.id = up.parent)"
        f" SELECT COUNT(*) FROM up WHERE state = 'DELETED') END"
    )
    if kind == "apikey":  # a service account's permissions come with it (a token's, when asked)
        fields.append(_permissions_column())
    fields.append(deleted_above)
    source = (
        f" FROM {model._meta.db_table} k JOIN {employee} e ON e.id = k.employee_id"
        f" JOIN {customer} c ON c.id = e.customer_id WHERE k.key_hash = %s"
    )
    stamp_sql = None
    if connection.vendor == "postgresql":  # the row's stamp, last (see _load)
        stamp = f"encode(sha256(convert_to(ROW({', '.join(fields)})::text, 'UTF8')), 'hex')"
        fields.append(stamp)
        stamp_sql = f"SELECT {stamp}{source}"
    return f"SELECT {', '.join(fields)}{source}", stamp_sql, len(_columns(model)), len(_columns(Employee))


def _permissions_column() -> str:
    """The ids of the account's permissions, its own and its groups', comma-separated: their names
    come from _permission_names (joining auth_permission and its content types here was most
    of the query's database time)."""
    through = Employee.user_permissions.through._meta.db_table
    groups = Employee.groups.through._meta.db_table
    aggregate = "STRING_AGG(pid::text, ',' ORDER BY pid)" if connection.vendor == "postgresql" else "GROUP_CONCAT(pid, ',')"
    return (
        f"(SELECT {aggregate} FROM (SELECT permission_id AS pid FROM {through} WHERE employee_id = e.id"
        f" UNION SELECT gp.permission_id FROM auth_group_permissions gp"
        f" JOIN {groups} eg ON eg.group_id = gp.group_id WHERE eg.employee_id = e.id) ids)"
    )


# auth_permission's id -> "app_label.codename", per connection alias: the rows are written by
# migrations, never by the API or the admin; an id not seen yet reads them again. The one thing
# about a credential taken from memory: a migration renaming a codename is seen by a process
# started after it (deploying a migration restarts the processes).
_permission_name_cache: dict[str, dict[int, str]] = {}


def _permission_names(ids: list[int]) -> set[str]:
    names = _permission_name_cache.get(connection.alias, {})
    if any(pid not in names for pid in ids):
        from django.contrib.auth.models import Permission

        names = {pid: f"{app}.{codename}" for pid, app, codename in
                 Permission.objects.values_list("id", "content_type__app_label", "codename")}
        _permission_name_cache[connection.alias] = names
    return {names[pid] for pid in ids if pid in names}


MAX_REMEMBERED = 10_000  # credentials remembered (rows, verified ones); beyond it, all are forgotten
Attributes = tuple[dict[str, Any], tuple[str, ...]]  # a model's attributes, and those holding a list or dict
# The last row read for each credential, converted: (alias, kind, hash) -> (its stamp, its parts,
# whether it was read while listening to changes and nothing was heard since: accounts/revocations.py).
_rows: dict[tuple[str, str, str], tuple[Any, tuple[Any, ...], bool]] = {}


def _load(kind: str, raw: str) -> tuple[Token | ApiKey, bool] | None:
    """The credential with its employee and customer attached, and whether a customer above is DELETED.

    On PostgreSQL, while this process listens to credential changes (accounts/revocations.py), a
    credential read since is taken from memory: no statement at all; any change to it, its
    account, its customers or its permissions is pushed to every process at its commit and drops
    it here. Otherwise one statement, prepared (planning it cost more than running it). A
    credential read before is asked there for its stamp only: the same query, the same rows and
    checks, answering a SHA-256 of everything it would answer instead of some 60 columns (2.7 kB)
    to parse and convert. The stamp equal to the one remembered, the row remembered is the row the
    database holds now; any other answer reads the whole row again. On SQLite (no SHA-256, no
    round trip) the whole row is read and is its own stamp.
    """
    sql, stamp_sql, key_count, employee_count = _credential_sql(kind)
    hashed = hash_token(raw)
    db = connections[DEFAULT_DB_ALIAS]  # (`connection` finds it again on every attribute read)
    slot = (db.alias, kind, hashed)
    pushed = revocations.mark(_forget, db) if stamp_sql is not None else None
    remembered = _rows.get(slot)
    if remembered is not None and pushed is not None and remembered[2]:
        return _build(remembered[1], db.alias)
    if remembered is not None and stamp_sql is not None:
        found = fetch_one(stamp_sql, [hashed])
        if found is None:
            _rows.pop(slot, None)  # (another thread may have dropped it already)
            return None
        if found[0] == remembered[0]:
            _keep(slot, remembered[0], remembered[1], pushed)
            return _build(remembered[1], db.alias)
    row = fetch_one(sql, [hashed])
    if row is None:
        _rows.pop(slot, None)
        return None
    stamp = row[-1] if stamp_sql is not None else row
    parts = remembered[1] if remembered is not None and remembered[0] == stamp else \
        _parts(kind, row[:-1] if stamp_sql is not None else row, key_count, employee_count)
    if remembered is None and len(_rows) >= MAX_REMEMBERED:
        _rows.clear()
    _keep(slot, stamp, parts, pushed)
    return _build(parts, db.alias)


def _keep(slot: tuple[str, str, str], stamp: Any, parts: tuple[Any, ...], pushed: int | None) -> None:
    """Remember a row just read; taken without asking next time only if nothing was heard since
    `pushed` was marked before the read: checked before it is kept (a change already heard) and
    after (a change heard in between either counts before the second check or drops the row
    after it, _forget)."""
    trusted = pushed is not None and not revocations.changed_since(pushed)
    _rows[slot] = (stamp, parts, trusted)
    if trusted and revocations.changed_since(pushed):  # type: ignore[arg-type]
        _rows[slot] = (stamp, parts, False)


def _forget(key_hash: str | None) -> None:
    """Told by the database (accounts/revocations.py): this credential, or any, changed."""
    if key_hash is None:
        _rows.clear()
        return
    for alias in settings.DATABASES:
        for kind in ("token", "apikey"):
            _rows.pop((alias, kind, key_hash), None)


def _parts(kind: str, row: tuple[Any, ...], key_count: int, employee_count: int) -> tuple[Any, ...]:
    """(model, credential, employee, customer attributes, permissions or None, deleted above) from a row."""
    model: Any = Token if kind == "token" else ApiKey
    end = -2 if kind == "apikey" else -1
    permissions = None
    if kind == "apikey":  # what ModelBackend would load (ADMIN never asks: it has every permission)
        permissions = frozenset(_permission_names([int(pid) for pid in str(row[-2]).split(",")]) if row[-2] else ())
    return (
        model,
        _attributes(model, row[:key_count]),
        _attributes(Employee, row[key_count : key_count + employee_count]),
        _attributes(Customer, row[key_count + employee_count : end]),
        permissions,
        bool(row[-1]),
    )


def _build(parts: tuple[Any, ...], alias: str) -> tuple[Token | ApiKey, bool]:
    model, credential_attributes, employee_attributes, customer_attributes, permissions, deleted_above = parts
    credential, employee = _instance(model, credential_attributes, alias), _instance(Employee, employee_attributes, alias)
    if permissions is not None:
        employee._perm_cache = set(permissions)
    # Attached as the ORM attaches what select_related read (its related-object cache), not through
    # the descriptors, whose database-router check was a tenth of a look-up's Python time.
    employee._state.fields_cache["customer"] = _instance(Customer, customer_attributes, alias)
    credential._state.fields_cache["employee"] = employee
    return credential, deleted_above


def _attributes(model: Any, values: Any) -> Attributes:
    """A model's attributes from raw column values, converted as the ORM would (dates, JSON, booleans)."""
    attributes = {}
    for field, value in zip(model._meta.concrete_fields, values, strict=True):
        if value is not None:
            for converter in connection.ops.get_db_converters(field.cached_col) + field.get_db_converters(connection):
                value = converter(value, field.cached_col, connection)
        attributes[field.attname] = value
    return attributes, tuple(name for name, value in attributes.items() if isinstance(value, list | dict))


def _instance(model: Any, attributes: Attributes, alias: str) -> Any:
    """A model instance, as Model.from_db makes one but without __init__'s signals (nothing listens
    here); its lists and dicts are its own, so a request changing one changes no other request's."""
    values, mutable = attributes
    instance = model.__new__(model)
    instance.__dict__.update(values)
    for name in mutable:
        instance.__dict__[name] = copy(values[name])
    instance._state = ModelState()
    instance._state.adding, instance._state.db = False, alias
    return instance


def resolve_token(raw: str) -> Token:
    """The live token for a raw value, or the documented 401."""
    found = _load("token", raw)
    if found is None:
        raise ApiError(401, *UNDECIPHERABLE)
    token, deleted_above = found
    assert isinstance(token, Token)
    if token.is_expired():
        Token.objects.filter(pk=token.pk).delete()
        raise ApiError(401, *EXPIRED)
    if not _reachable(token.employee, deleted_above):  # Employee.may_use_api, from the row already read
        raise ApiError(401, *LOGIN_AGAIN)
    return token


def resolve_api_key(raw: str) -> ApiKey:
    """The live API key for a raw value: not revoked, its account enabled and reachable; else 401."""
    found = _load("apikey", raw)
    if found is None:
        raise ApiError(401, *UNDECIPHERABLE)
    key, deleted_above = found
    assert isinstance(key, ApiKey)
    if key.revoked_at is not None or not _reachable(key.employee, deleted_above):
        raise ApiError(401, *LOGIN_AGAIN)
    return key


def _reachable(employee: Employee, deleted_above: bool) -> bool:
    """Employee.may_use_api (docs/api.md §3) without its walk up the tree: the query counted the
    DELETED resellers above. Tokens and API keys obey the same rule."""
    return employee.is_active and employee.customer.state != Customer.State.DELETED and not deleted_above


def touch(token: Token) -> None:
    now = timezone.now()
    if token.persist or now - token.last_used_at < TOUCH_INTERVAL:
        return
    token.last_used_at = now
    token.expires_at = now + timedelta(minutes=settings.TOKEN_EXPIRY_MINUTES)
    Token.objects.filter(pk=token.pk).update(last_used_at=token.last_used_at, expires_at=token.expires_at)


def basic_api_key(encoded: bytes) -> str:
    """The API key of HTTP Basic credentials `base64(key:)`: the key as the user name and an empty
    password, for clients that can send Basic but not Bearer (Kamailio 5.6's kept-alive named
    connections), as Stripe's API takes them. Only an API key: a token, a password or anything
    else in Basic credentials is the documented format error."""
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        raise ApiError(401, *UNDECIPHERABLE) from None
    user, colon, password = decoded.partition(":")
    if not colon or password or not user.startswith(API_KEY_PREFIX):
        raise ApiError(401, *FORMAT_ERROR)
    return user


# Credentials verified against the database: hash -> (time.monotonic() of the check, the credential).
_verified: dict[str, tuple[float, Token | ApiKey]] = {}


def remember(raw: str, credential: Token | ApiKey) -> None:
    if settings.ROUTING_STALE_CREDENTIALS_SECONDS <= 0:
        return
    if len(_verified) >= MAX_REMEMBERED:
        _verified.clear()
    _verified[hash_token(raw)] = (time.monotonic(), credential)


def forget_all() -> None:
    """Forget every verified credential and remembered row, and stop listening to changes (tests:
    each starts as a fresh process, and none holds the test database open when it is dropped)."""
    revocations.stop()
    _verified.clear()
    _rows.clear()
    _permission_name_cache.clear()


def stale_credential(raw: str, view: object) -> Token | ApiKey:
    """The database is away: the credential as this process last verified it, for a view that
    can answer without the database, if verified within ROUTING_STALE_CREDENTIALS_SECONDS; else 503."""
    found = _verified.get(hash_token(raw))
    if (
        not getattr(view, "works_without_database", False)
        or found is None
        or time.monotonic() - found[0] > settings.ROUTING_STALE_CREDENTIALS_SECONDS
    ):
        raise outage.Unavailable()
    credential = found[1]
    if isinstance(credential, Token) and credential.is_expired():
        raise ApiError(401, *EXPIRED)
    outage.mark_degraded("database")
    return credential


class BearerTokenAuthentication(BaseAuthentication):
    # What a request with a bad credential is answered (the schema lists them for every operation that needs one).
    documented_errors = [(401, *FORMAT_ERROR), (401, *UNDECIPHERABLE), (401, *EXPIRED)]

    def authenticate(self, request: Request) -> tuple[Employee, Token | ApiKey] | None:
        # DRF's get_authorization_header reads request.headers, made of every header on first use.
        header = request._request.META.get("HTTP_AUTHORIZATION", b"")
        if isinstance(header, str):
            header = header.encode(HTTP_HEADER_ENCODING)
        if not header:
            return None  # IsAuthenticated answers 401 credentials_invalid
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() not in (b"bearer", b"basic"):
            raise ApiError(401, *FORMAT_ERROR)
        if parts[0].lower() == b"basic":
            raw = basic_api_key(parts[1])
        else:
            try:
                raw = parts[1].decode("ascii")
            except UnicodeDecodeError:
                raise ApiError(401, *UNDECIPHERABLE) from None
        view = (request.parser_context or {}).get("view")
        credential: Token | ApiKey
        if outage.database.is_open():  # failed a moment ago: not tried again until the breaker closes
            credential = stale_credential(raw, view)
        else:
            try:
                credential = resolve_api_key(raw) if raw.startswith(API_KEY_PREFIX) else resolve_token(raw)
                if isinstance(credential, Token):
                    touch(credential)
            except ApiError:
                _verified.pop(hash_token(raw), None)  # refused while the database answers: forgotten at once
                raise
            except Exception as exc:
                if not outage.is_database_unreachable(exc):
                    raise
                outage.database.trip()
                credential = stale_credential(raw, view)
            else:
                remember(raw, credential)
        if isinstance(credential, ApiKey):  # what it may do is the Access table's (people, not keys)
            request._request._telecomx_api_key = credential  # for the request log
        request._request._telecomx_employee = credential.employee  # for the request log
        return credential.employee, credential

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


