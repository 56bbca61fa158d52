"""core/db.py: the credential probe on a kept PostgreSQL connection that died while idle."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection, transaction

from core.db import fetch_one
from tests.faults import end_this_connection

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a SQLite file does not drop its connection")
def test_a_kept_connection_that_died_is_replaced_for_the_probe() -> None:
    end_this_connection()
    assert fetch_one("SELECT 41 + 1", []) == (42,)
    assert fetch_one("SELECT 1", []) == (1,)  # and the new connection stays


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a SQLite file does not drop its connection")
def test_inside_a_transaction_the_failure_is_the_callers() -> None:
    end_this_connection()
    with pytest.raises(OperationalError), transaction.atomic():
        fetch_one("SELECT 1", [])
    connection.close()
