"""Celery tasks: thin wrappers around delivery.py (the engine decides; tasks only carry messages)."""

from __future__ import annotations

import logging

from celery import shared_task

from callnotify import delivery
from callnotify import sweep as sweep_module

logger = logging.getLogger("callnotify.tasks")


@shared_task(name="callnotify.attempt", acks_late=True, reject_on_worker_lost=True)
def attempt(delivery_id: str) -> str:
    """One attempt of one delivery, if it is due and its turn (a duplicate message is a no-op)."""
    return delivery.attempt_delivery(delivery_id)


@shared_task(name="callnotify.sweep", acks_late=True)
def sweep() -> int:
    """Re-queue deliveries that are overdue: their message was lost, or their worker died."""
    return len(sweep_module.sweep())
