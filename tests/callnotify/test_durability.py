"""A real Celery worker SIGKILLed in the middle of 1,000 deliveries, a broker that restarts empty, and
a worker's database connections cut between its tasks (docs/callevents.md §6).

Both on the batch path (claim, send, record). Every delivery must end DELIVERED; the sink must
have received each event exactly once, or more than once only where the log records the
interrupted attempt that explains it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.faults import CuttingProxy, start_redis
from tests.processes import Sink, free_port, start_worker, wait_for, worker_logs

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
EVENTS = 1000


def driver(env: dict[str, str], *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "tests.callnotify.durability_driver", *args], cwd=ROOT, env=env,
                         check=True, capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_killing_the_worker_mid_way_loses_no_delivery(sink: Sink, env: dict[str, str]) -> None:
    assert driver(env, "setup", str(sink.server_address[1]), str(EVENTS)) == {"deliveries": EVENTS}

    first = start_worker(env, "first")
    try:
        assert wait_for(lambda: sum(sink.received.values()) >= EVENTS // 4, 60), "the first worker delivered nothing"
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the whole worker: main process and pool, no goodbye
        first.wait()
    delivered_before_kill = sum(sink.received.values())
    assert delivered_before_kill < EVENTS, "the kill came too late to prove anything"

    second = start_worker(env, "second")
    try:
        assert wait_for(lambda: all(s == "DELIVERED" for s, _, _ in driver(env, "report").values()), 240), \
            worker_logs(env)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(30)

    report = driver(env, "report")
    assert len(report) == EVENTS and {state for state, _, _ in report.values()} == {"DELIVERED"}
    missing = [event for event in report if sink.received[event] == 0]
    assert missing == []
    unexplained = {event: (sink.received[event], interrupted) for event, (_, _, interrupted) in report.items()
                   if sink.received[event] > 1 + interrupted}
    assert unexplained == {}
    assert set(sink.received) == set(report)
    duplicates = sum(sink.received.values()) - EVENTS
    print(f"\nkilled after {delivered_before_kill} of {EVENTS}; {duplicates} recorded duplicates; "
          f"{sum(i for _, _, i in report.values())} interrupted attempts logged")


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server to run a broker of its own")
def test_a_broker_restart_that_loses_every_message_loses_no_delivery(sink: Sink, env: dict[str, str]) -> None:
    """The broker dies mid-run and comes back empty (no persistence): the sweep finds the work again."""
    port = free_port()
    broker = start_redis(port)
    env = {**env, "CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0"}
    worker = None
    try:
        assert driver(env, "setup", str(sink.server_address[1]), str(EVENTS)) == {"deliveries": EVENTS}
        worker = start_worker(env, "restart")
        assert wait_for(lambda: sum(sink.received.values()) >= EVENTS // 4, 60), "the worker delivered nothing"
        os.killpg(broker.pid, signal.SIGKILL)
        broker.wait()
        delivered_before = sum(sink.received.values())
        assert delivered_before < EVENTS, "the restart came too late to prove anything"
        time.sleep(1)
        broker = start_redis(port)  # empty: every queued message is gone

        def supervised_until_delivered() -> bool:
            # Celery 5's worker can die on a lost broker connection, at once or a while after it comes
            # back ("Unrecoverable error: AttributeError ... 'hostname'" while restoring unacknowledged
            # messages); in production its supervisor (systemd Restart=always, Kubernetes) starts it
            # again, and so does this loop, whenever that happens.
            nonlocal worker, restarts
            if worker.poll() is not None:
                restarts += 1
                worker = start_worker(env, f"restarted{restarts}")
            return all(s == "DELIVERED" for s, _, _ in driver(env, "report").values())

        restarts = 0
        assert wait_for(supervised_until_delivered, 240), worker_logs(env)
    finally:
        if worker is not None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(30)
        os.killpg(broker.pid, signal.SIGKILL)
        broker.wait()
    report = driver(env, "report")
    assert len(report) == EVENTS and [event for event in report if sink.received[event] == 0] == []
    assert {event: n for event, n in sink.received.items() if n > 1 + report[event][2]} == {}
    print(f"\nbroker restarted empty after {delivered_before} of {EVENTS}; "
          f"{sum(sink.received.values()) - EVENTS} recorded duplicates; worker restarted {restarts} times")


def test_a_worker_delivers_again_after_its_database_connections_were_cut(sink: Sink, env: dict[str, str]) -> None:
    """A worker keeps its database connection from task to task (settings.CELERY_DB_REUSE_MAX;
    Celery's default opened one per batch). When the database drops it between tasks (a restart,
    a failover), the next task must find out and connect again, not fail on it from then on (the
    whole worker, end to end; tests/callnotify/test_tasks.py holds the check itself to it)."""
    if not env["DATABASE_URL"].startswith(("postgres://", "postgresql://")):
        pytest.skip("needs PostgreSQL: an SQLite file has no connection to cut")
    target = urlsplit(env["DATABASE_URL"])
    proxy = CuttingProxy((target.hostname or "127.0.0.1", target.port or 5432))
    through_proxy = {**env, "DATABASE_URL": env["DATABASE_URL"].replace(f":{target.port or 5432}/", f":{proxy.port}/", 1)}
    assert driver(env, "setup", str(sink.server_address[1]), "20") == {"deliveries": 20}
    worker = start_worker(through_proxy, "cut")
    try:
        # Every attempt recorded (not only sent) before the cut, so no record is cut half way.
        assert wait_for(lambda: {s for s, _, _ in driver(env, "report").values()} == {"DELIVERED"}, 60), worker_logs(env)
        proxy.cut()  # every connection the worker holds is closed; the database is back at once
        proxy.restore()
        assert driver(env, "more", "20", "20") == {"deliveries": 40}
        assert wait_for(lambda: sum(sink.received.values()) == 40, 60), worker_logs(env)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
        proxy.cut()
    report = driver(env, "report")
    assert {state for state, _, _ in report.values()} == {"DELIVERED"} and set(sink.received.values()) == {1}
