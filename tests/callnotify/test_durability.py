"""A real Celery worker on the machine's Redis, SIGKILLed in the middle of 1,000 deliveries (docs/callevents.md §5).

Every delivery must end DELIVERED; the sink must have received each event exactly once, or
more than once only where the log records the interrupted attempt that explains it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import Sink, start_worker, wait_for

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
        assert wait_for(lambda: all(s == "DELIVERED" for s, _, _ in driver(env, "report").values()), 90)
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
