"""In-process delivery with no broker (docs/callevents.md §6): a thread of the web process does the workers' job.

Started by telecomx/wsgi.py (so `manage.py runserver` and any WSGI server deliver with no extra
service); management commands never import it, and under pytest it starts only when a test
sets CALLNOTIFY_IN_PROCESS="on" and calls `start()`. It polls
the database for due deliveries (so retries keep their schedule and a restart picks up where
the last process stopped) and is woken early when an event is stored. Several processes may
each run one: the lease in delivery.claim decides who attempts.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from callnotify import delivery, sweep

logger = logging.getLogger("callnotify.runner")
MAX_PAUSE = 2.0  # seconds; also how soon deliveries stored by other processes are noticed


class Runner:
    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="callnotify-delivery")
        self.woken = threading.Event()
        self.stopping = threading.Event()
        self.inflight: set[str] = set()
        self.lock = threading.Lock()
        self.pid = os.getpid()
        self.thread = threading.Thread(target=self._loop, name="callnotify-runner", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self.stopping.set()
        self.woken.set()
        self.thread.join(timeout)
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                pause = self.run_once()
            except Exception:  # noqa: BLE001 - a database hiccup must not end delivery for good
                logger.exception("delivery runner pass failed")
                pause = MAX_PAUSE
            finally:
                connection.close()
            self.woken.wait(pause)
            self.woken.clear()

    def run_once(self) -> float:
        """Hand due deliveries to the threads; answers how long to wait before looking again."""
        now = timezone.now()
        with self.lock:
            free, busy = self.threads - len(self.inflight), frozenset(self.inflight)
        if free <= 0:
            return MAX_PAUSE  # a finishing thread wakes the loop
        ids = sweep.pick_due(now, limit=free, exclude=busy)
        for pk in ids:
            with self.lock:
                self.inflight.add(pk)
            self.pool.submit(self._attempt, pk)
        if ids:
            return 0.05
        wait = sweep.seconds_until_next_due(now)
        return MAX_PAUSE if wait is None else min(max(wait, 0.05), MAX_PAUSE)

    def _attempt(self, pk: str) -> None:
        try:
            delivery.attempt_delivery(pk)
        except Exception:  # noqa: BLE001
            logger.exception("delivery %s failed unexpectedly", pk)
        finally:
            close_old_connections()
            connection.close()
            with self.lock:
                self.inflight.discard(pk)
            self.woken.set()

    def idle(self) -> bool:
        with self.lock:
            return not self.inflight


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


def wake() -> None:
    """New deliveries were stored: look now rather than at the next poll (no-op without a runner)."""
    runner = current()
    if runner is not None:
        runner.woken.set()


def stop() -> None:
    global _runner
    runner, _runner = current(), None
    if runner is not None:
        runner.stop()
