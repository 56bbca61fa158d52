"""The CI scripts wait for the dpkg lock instead of failing when another install holds it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_apt_get_in_ci_waits_for_the_dpkg_lock() -> None:
    calls = []
    for script in sorted((ROOT / ".ci").iterdir()):
        if script.is_file():
            text = script.read_text().replace("\\\n", " ")
            calls += [(script.name, line.strip()) for line in text.splitlines()
                      if re.search(r"\bapt-get\b(?!\s*>)", line) and not line.lstrip().startswith(("#", "echo"))
                      and "command -v apt-get" not in line]
    assert calls, "no apt-get call found: the check reads nothing"
    for name, line in calls:
        for call in re.findall(r"apt-get\b[^;&|]*", line):
            if "install" in call or "update" in call:
                assert "DPkg::Lock::Timeout" in call, f".ci/{name}: {call}"
