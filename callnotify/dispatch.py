"""Where a due delivery is handed over: Celery when a broker is configured, else the web process's runner.

Messages are hints (delivery.py): failing to publish one is logged, never raised into the
request that stored the event, because the sweep will find the delivery anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings

logger = logging.getLogger("callnotify.dispatch")


def uses_celery() -> bool:
    return bool(settings.CELERY_BROKER_URL)


def enqueue(delivery_ids: Iterable[str], *, at: datetime | None = None) -> None:
    ids = list(delivery_ids)
    if not ids:
        return
    if uses_celery():
        from callnotify.tasks import attempt

        try:
            for pk in ids:
                attempt.apply_async(args=[pk], eta=at)
        except Exception:  # noqa: BLE001 - broker down: the sweep re-queues these when it is back
            logger.warning("could not queue %d deliveries; the sweep will pick them up", len(ids), exc_info=True)
        return
    from callnotify import runner

    runner.wake()
