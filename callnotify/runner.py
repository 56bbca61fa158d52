"""In-process delivery with no broker (docs/callevents.md §6): a thread of the web process does the workers' job.

Started by telecomx/wsgi.py (so `manage.py runserver` and any WSGI server deliver with no extra
service); management commands never import it, and under pytest it starts only when a test
sets CALLNOTIFY_IN_PROCESS="on" and calls `start()`. It polls
the database for due deliveries (so retries keep their schedule and a restart picks up where
the last process stopped) and is woken early (hints.on_wake) when an event is stored.
Several processes may each run one: the leases set by delivery.claim decide who attempts.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from callnotify import delivery, hints, sweep

logger = logging.getLogger("callnotify.runner")
MAX_PAUSE = 2.0  # seconds; also how soon deliveries stored by other processes are noticed


class Runner:
    """One loop thread running delivery.run, batch after batch; the sending threads are delivery.py's."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.woken = threading.Event()
        self.stopping = threading.Event()
        self.pid = os.getpid()
        self.thread = threading.Thread(target=self._loop, name="callnotify-runner", daemon=True)

    def start(self) -> None:
        hints.on_wake(self.woken.set)
        self.thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        hints.off_wake(self.woken.set)
        self.stopping.set()
        self.woken.set()
        self.thread.join(timeout)
        delivery.wait_idle(timeout)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                pause = self.run_once()
            except Exception:  # noqa: BLE001 - a database hiccup must not end delivery for good
                logger.exception("delivery runner pass failed")
                pause = MAX_PAUSE
            finally:
                close_old_connections()
            if pause:
                self.woken.wait(pause)
                self.woken.clear()
        connection.close()

    def run_once(self) -> float:
        """One batch; answers how long to wait before looking again (0: at once)."""
        if delivery.run(limit=settings.CALLNOTIFY_BATCH_SIZE, wait_seconds=settings.CALLNOTIFY_BATCH_WAIT):
            return 0.0
        wait = sweep.seconds_until_next_due(timezone.now())
        return MAX_PAUSE if wait is None else min(max(wait, 0.05), MAX_PAUSE)


_runner: Runner | None = None
_start_lock = threading.Lock()


def enabled() -> bool:
    """No broker, and not switched off; "auto" also stays off under pytest, where tests drive delivery
    themselves (a module importing telecomx.wsgi at collection must not start sending)."""
    mode = settings.CALLNOTIFY_IN_PROCESS
    if settings.CELERY_BROKER_URL or mode == "off":
        return False
    return mode == "on" or "pytest" not in sys.modules


def start() -> Runner | None:
    """Start this process's runner once (again after a fork); None when a broker does the work."""
    global _runner
    if not enabled():
        return None
    with _start_lock:
        if _runner is None or _runner.pid != os.getpid():
            _runner = Runner(settings.CALLNOTIFY_THREADS)
            _runner.start()
            logger.info("delivering call events in this process (%d threads; no CELERY_BROKER_URL)", _runner.threads)
        return _runner


def current() -> Runner | None:
    return _runner if _runner is not None and _runner.pid == os.getpid() else None


def stop() -> None:
    global _runner
    runner, _runner = current(), None
    if runner is not None:
        runner.stop()
