"""The Celery tasks in their caller's process (`apply()`, eager): the worker's connection check
before each task (callnotify/tasks.py) leaves the caller's connection and transaction alone."""

from __future__ import annotations

import pytest
from django.db import connection

from callnotify import tasks
from callnotify.models import CallNotify
from tests.accounts.factories import CustomerFactory


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite's in-memory test database is never closed")
@pytest.mark.django_db
def test_a_task_applied_in_the_callers_transaction_leaves_its_connection_alone() -> None:
    customer = CustomerFactory()
    assert tasks.deliver.apply().get() == 0  # nothing due
    assert CallNotify.objects.filter(customer=customer).count() == 0  # the test's transaction still answers
