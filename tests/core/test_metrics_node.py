"""core.metrics across processes: one scrape adds up every process's files, and the files of
processes that ended are folded into one archive without changing any value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]

# A process of the node: counts, observes, and ends (its files stay behind).
CHILD = """
from core import metrics
metrics.ROUTE_LOOKUPS.labels("prefix").inc(3)
metrics.ROUTE_LOOKUP_SECONDS.observe(0.002)
metrics.HTTP_REQUEST_SECONDS.labels("sbc-route").observe(0.3)
"""

# The scraping process: prints the node's exposition.
SCRAPE = """
import sys
from prometheus_client import generate_latest
from core import metrics
metrics.ROUTE_LOOKUPS.labels("prefix").inc(1)
sys.stdout.write(generate_latest(metrics.registry()).decode())
"""


def run(code: str, directory: Path) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout


def values(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_ended_processes_are_folded_and_every_count_is_kept(tmp_path: Path) -> None:
    for _ in range(3):
        run(CHILD, tmp_path)
    assert len([f for f in os.listdir(tmp_path) if f.startswith("counter_")]) == 3

    first = values(run(SCRAPE, tmp_path))  # 3 ended processes x 3, plus the scraper's own 1

    assert first[("telecomx_route_lookups_total", (("reason", "prefix"),))] == 10
    assert first[("telecomx_route_lookup_duration_seconds_count", ())] == 3
    assert first[("telecomx_route_lookup_duration_seconds_bucket", (("le", "0.0025"),))] == 3
    assert first[("telecomx_route_lookup_duration_seconds_bucket", (("le", "0.001"),))] == 0
    assert abs(first[("telecomx_route_lookup_duration_seconds_sum", ())] - 0.006) < 1e-9
    assert first[("telecomx_http_request_duration_seconds_count", (("view", "sbc-route"),))] == 3
    # The three ended ones are one archive now; the scraper (ended too, by now) is folded next time.
    left = sorted(f for f in os.listdir(tmp_path) if f.endswith(".db"))
    assert "counter_archive.db" in left and "histogram_archive.db" in left
    assert len([f for f in left if f.startswith("counter_") and f != "counter_archive.db"]) == 1

    run(CHILD, tmp_path)
    second = values(run(SCRAPE, tmp_path))
    assert second[("telecomx_route_lookups_total", (("reason", "prefix"),))] == 14  # 10, the first scraper's 1, 3 more
    assert second[("telecomx_route_lookup_duration_seconds_count", ())] == 4
    assert second[("telecomx_route_lookup_duration_seconds_bucket", (("le", "+Inf"),))] == 4


def test_without_a_directory_a_process_shows_its_own(settings) -> None:
    from core import metrics

    metrics.ROUTE_LOOKUPS.labels("dkcps").inc(2)
    found = values(generate_latest(metrics.registry()).decode())
    assert found[("telecomx_route_lookups_total", (("reason", "dkcps"),))] == 2
    assert not any(name.endswith("_created") for name, _ in found)
