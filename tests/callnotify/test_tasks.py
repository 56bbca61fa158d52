"""callnotify/tasks.py: a worker's kept database connection, checked before each task (on
PostgreSQL: SQLite's in-memory test database is never closed, so nothing here could fail on it)."""

from __future__ import annotations

import pytest
from celery.signals import task_prerun
from django.db import connection

from callnotify import tasks
from callnotify.models import CallNotify
from tests.accounts.factories import CustomerFactory
from tests.faults import end_this_connection

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite's test database is never closed")


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_database_dropped_between_tasks_is_opened_anew_by_the_next_task() -> None:
    """Without the check, the next task's first statement failed, and every task after it: Django
    never opens a connection again by itself (a worker failed every task from then on)."""
    CallNotify.objects.count()
    end_this_connection()
    task_prerun.send(sender=tasks.sweep_overdue, task_id="t", task=tasks.sweep_overdue)  # as the worker does
    assert CallNotify.objects.count() == 0  # a statement outside a transaction, as the sweep's first


@pytest.mark.django_db
def test_a_task_applied_in_the_callers_transaction_leaves_its_connection_alone() -> None:
    customer = CustomerFactory()
    assert tasks.deliver.apply().get() == 0  # nothing due
    assert CallNotify.objects.filter(customer=customer).count() == 0  # the test's transaction still answers
