"""Adding to counters without reading them: the per-minute counters (`MinuteCount`) and the
upsert that every counting table of the project is written with.

`upsert` writes with one statement per UPSERT_ROWS rows however many rows it is given: nothing is
read or written per row, so a counter costs its writer a fixed number of statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import connection, models

from core.models import MinuteCount

UPSERT_ROWS = 1000  # rows per INSERT statement


def minute_of(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def upsert(model: type[models.Model], key: Sequence[str], rows: list[tuple], add: Sequence[str],
           set_sql: dict[str, str] | None = None) -> None:
    """INSERT … ON CONFLICT (key) DO UPDATE, adding `add` columns and setting `set_sql` ones; one statement
    per UPSERT_ROWS rows.

    Rows are sorted by key so concurrent batches lock rows in the same order (no deadlock).
    """
    if not rows:
        return
    table = model._meta.db_table
    columns = [*key, *add, *(set_sql or {})]
    quote = connection.ops.quote_name
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    updates = [f"{quote(c)} = {quote(table)}.{quote(c)} + excluded.{quote(c)}" for c in add]
    updates += [f"{quote(c)} = {expr}" for c, expr in (set_sql or {}).items()]
    conflict = f" ON CONFLICT ({', '.join(quote(c) for c in key)}) DO UPDATE SET {', '.join(updates)}"
    rows = sorted(rows, key=lambda r: tuple(str(v) for v in r[: len(key)]))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), UPSERT_ROWS):  # SQLite takes at most 32,766 parameters per statement
            chunk = rows[start : start + UPSERT_ROWS]
            sql = (f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) VALUES "
                   + ", ".join([placeholders] * len(chunk)) + conflict)
            cursor.execute(sql, [value for row in chunk for value in row])


def add_counts(counts: dict[tuple[str, datetime], int]) -> None:
    """Add to the named per-minute counters: {(name, minute): n}. One statement."""
    upsert(MinuteCount, ("name", "minute"), [(name, minute, n) for (name, minute), n in counts.items() if n], ["count"])


def prune_counts(cutoff: datetime) -> int:
    """Delete the per-minute counters older than `cutoff`; answers how many."""
    return MinuteCount.objects.filter(minute__lt=cutoff).delete()[0]
