"""Statements run on every request, prepared on PostgreSQL.

Django binds parameters on the client side, so PostgreSQL parses and plans every statement it
receives afresh. For the credential probe that every API request makes, planning (a join of three
tables, the walk up the reseller tree, a service account's permissions) cost 0.3 ms of the
server's time against 0.1 ms to run it, and over 1 ms of wall clock on a busy machine. A
statement run through `fetch_one` is prepared once per connection (psycopg's own statement
cache, named and re-prepared on a new connection by psycopg) and then only executed.

`DATABASE_PREPARED_STATEMENTS=0` turns it off for a connection pooler that cannot keep prepared
statements across transactions (PgBouncer before 1.21 in transaction mode, or with
`max_prepared_statements = 0`). SQLite keeps its own cache of compiled statements.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

import orjson
from django.db import InterfaceError, OperationalError, connection


@cache
def _prepared_cursor_class() -> Any:
    """A psycopg cursor that binds on the server and prepares what it runs (imported when first
    needed: a SQLite installation never loads libpq)."""
    import psycopg

    class PreparedCursor(psycopg.Cursor):  # type: ignore[type-arg]
        logged = False  # set when Django logs queries (tests, DEBUG)

        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
            super().execute(query, params, prepare=True)
            if self.logged:  # a prepared run keeps no query text; Django's log reads it from here
                self._query = self._convert_query(query, params)
            return self

    return PreparedCursor


def fetch_one(sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    """The first row of `sql` (placeholders `%s`), prepared on PostgreSQL when the connection allows.

    Every API request runs this first (its credential probe). A kept connection that died while
    idle (PostgreSQL restarted, a failover, a proxy that cut it) fails its next statement at once;
    outside a transaction the probe is tried once more on a new connection, so the first request
    each web thread serves after a database comes back is answered, not refused 503. A new
    connection that fails is the outage itself (core.outage) and is not retried.
    """
    kept = connection.vendor == "postgresql" and connection.connection is not None  # (a SQLite file does not go away)
    try:
        return _fetch_one(sql, params)
    except (OperationalError, InterfaceError):
        if not kept or connection.in_atomic_block:
            raise
        connection.close()
        return _fetch_one(sql, params)


def fetch_all(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Every row of `sql`, prepared on PostgreSQL when the connection allows (plain SQL that a
    request runs every time: planning it again is work the database need not do)."""
    with _cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def execute(sql: str, params: Sequence[Any]) -> int:
    """Run a write written once per process, prepared on PostgreSQL when the connection allows:
    the number of rows it wrote."""
    with _cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _fetch_one(sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    with _cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _cursor() -> Any:
    """A cursor that prepares what it runs on PostgreSQL (when the connection allows), else Django's."""
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        raw = connection.connection
        if raw.prepare_threshold is not None:  # DATABASES OPTIONS prepare_threshold (None: never prepare)
            # Wrapped as Django wraps its own cursors: errors become Django's, tests count the statement.
            cursor = _prepared_cursor_class()(raw)
            cursor.logged = connection.queries_logged
            return connection.make_debug_cursor(cursor) if cursor.logged else connection.make_cursor(cursor)
    return connection.cursor()


def list_rows(vendor: str, name: str = "value") -> str:
    """A SELECT of the strings of a list passed as ONE parameter (`list_param`), as rows `name`."""
    if vendor == "postgresql":
        return f"SELECT json_array_elements_text(%s::json) AS {name}"
    return f"SELECT value AS {name} FROM json_each(%s)"


def in_list(column: str, vendor: str) -> str:
    """`column` is one of a list passed as ONE parameter (`list_param`): plain SQL written once
    per process cannot grow an IN (…) with the list, and one parameter keeps it one statement."""
    if vendor == "postgresql":
        return f"{column} = ANY(ARRAY({list_rows(vendor)}))"
    return f"{column} IN ({list_rows(vendor)})"


def list_param(values: Sequence[str]) -> Any:
    """The parameter `in_list` reads: a JSON array of strings, one text value to send (psycopg
    dumped a Python list as an array element by element: a quarter of a 100-item list's health
    statement on PostgreSQL)."""
    return json.dumps(list(values))


def plain(value: Any) -> Any:
    """A Python value as a plain cursor takes it: a datetime adapted for the database, a dict as
    JSON text (a JSON column's value), anything else as it is."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return json.dumps(value) if isinstance(value, dict) else value


def insert_rows(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Plain rows into `table`, in as few statements as the database takes: on PostgreSQL one
    prepared INSERT … SELECT FROM json_populate_recordset() whose one parameter is the rows as
    JSON, written by orjson (the table's own column types read it; psycopg dumped a list per
    column element by element in Python, a fifth of a 30-event post), on SQLite multi-row VALUES
    within its bound-parameter limit. No model objects: for a batch of 1,000 call events, Django's
    bulk_create spent twice the statement's own time building and preparing them. Values are
    Python values (a dict is a JSON column's); a unique or foreign key violation raises Django's
    IntegrityError as bulk_create would."""
    if not rows:
        return
    q = connection.ops.quote_name
    names = ", ".join(q(c) for c in columns)
    if connection.vendor == "postgresql":
        payload = orjson.dumps([dict(zip(columns, row)) for row in rows]).decode()
        with _cursor() as cursor:
            cursor.execute(f"INSERT INTO {q(table)} ({names}) SELECT {names}"
                           f" FROM json_populate_recordset(NULL::{q(table)}, %s::json)", [payload])
        return
    with connection.cursor() as cursor:
        one = "(" + ", ".join(["%s"] * len(columns)) + ")"
        per = max(1, (connection.features.max_query_params or 999) // len(columns))
        for start in range(0, len(rows), per):
            chunk = rows[start:start + per]
            params = [plain(v) for row in chunk for v in row]
            cursor.execute(f"INSERT INTO {q(table)} ({names}) VALUES {', '.join([one] * len(chunk))}", params)


def on_postgresql(forward: Sequence[str], backward: Sequence[str]) -> Any:
    """A migration operation running `forward` (and, migrating back, `backward`) statement by
    statement on PostgreSQL, and nothing on SQLite: for what only PostgreSQL has (triggers kept
    by the database, notifications)."""
    from django.db import migrations

    def run(statements: Sequence[str]) -> Any:
        def apply(apps: Any, schema_editor: Any) -> None:
            if schema_editor.connection.vendor == "postgresql":
                for sql in statements:
                    schema_editor.execute(sql, params=None)
        return apply

    return migrations.RunPython(run(forward), run(backward))
