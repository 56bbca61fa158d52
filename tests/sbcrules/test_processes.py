"""What one process changes, another process's look-ups use within a second (docs/api.md §9).

Two real processes share one database: a "web worker" that answers look-ups from its index,
and a writer that changes rules. Under SQLite the test's own database lives in memory, so both
processes use a database file migrated for the test; under PostgreSQL, the test database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

# Real processes and real waiting: run by .ci/run's integration step (bin/test -m integration).
pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


class Worker:
    def __init__(self, env: dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.sbcrules.route_worker"], cwd=ROOT, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )

    def ask(self, command: str) -> dict:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, "the worker process died"
        return json.loads(line)

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=10)


@pytest.fixture
def shared_db_env(tmp_path, transactional_db) -> Iterator[dict[str, str]]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "telecomx.settings", "ROUTING_CHECK_INTERVAL": "0.5"}
    if connection.vendor == "postgresql":
        db = settings.DATABASES["default"]
        env["DATABASE_URL"] = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    yield env


def test_a_rule_written_by_one_process_is_used_by_another_within_a_second(shared_db_env):
    server, writer = Worker(shared_db_env), Worker(shared_db_env)
    try:
        assert writer.ask("peer TDC") == {"ok": True}
        assert server.ask("route +4612345678")["reason"] == "no_route"  # index built
        assert writer.ask("rule PREFIX +46 TDC") == {"ok": True}  # committed when it answers
        time.sleep(1.0)
        answer = server.ask("route +4612345678")
        assert (answer["peer"], answer["reason"]) == ("TDC", "prefix")
        assert writer.ask("rule PREFIX +4612 TDC") == {"ok": True}
        time.sleep(1.0)
        assert server.ask("route +4612345678")["rule"]["condition"] == "+4612"
    finally:
        server.close()
        writer.close()
