"""core/db.py: the credential probe on a kept PostgreSQL connection that died while idle."""

from __future__ import annotations

import psycopg
import pytest
from django.db import OperationalError, connection, transaction

from core.db import fetch_one

pytestmark = pytest.mark.django_db(transaction=True)


def _kill_this_connection() -> None:
    """The server ends this connection's backend, as a restart or a cutting proxy would."""
    pid = fetch_one("SELECT pg_backend_pid()", [])[0]
    settings = connection.settings_dict
    with psycopg.connect(host=settings["HOST"] or "127.0.0.1", port=settings["PORT"] or 5432, user=settings["USER"],
                         password=settings["PASSWORD"] or None, dbname=settings["NAME"], autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a SQLite file does not drop its connection")
def test_a_kept_connection_that_died_is_replaced_for_the_probe() -> None:
    _kill_this_connection()
    assert fetch_one("SELECT 41 + 1", []) == (42,)
    assert fetch_one("SELECT 1", []) == (1,)  # and the new connection stays


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a SQLite file does not drop its connection")
def test_inside_a_transaction_the_failure_is_the_callers() -> None:
    _kill_this_connection()
    with pytest.raises(OperationalError), transaction.atomic():
        fetch_one("SELECT 1", [])
    connection.close()
