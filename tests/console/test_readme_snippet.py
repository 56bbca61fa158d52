"""The README's "Trying the API" snippet works when pasted: run as written against a live server
with the demo data (only its address changed to the test server's)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command

README = Path(__file__).resolve().parents[2] / "README.md"


def snippet() -> str:
    section = README.read_text().split("## Trying the API", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


@pytest.mark.skipif(not shutil.which("curl"), reason="the snippet uses curl")
@pytest.mark.django_db(transaction=True)
def test_the_readme_snippet_lists_the_demo_customers_items(live_server, monkeypatch) -> None:
    monkeypatch.setenv("DEMO_RECEIVER_PORT", "8001")
    call_command("seeddemo", stdout=open("/dev/null", "w"))
    script = snippet().replace("http://127.0.0.1:8000", live_server.url)
    assert "<" not in script, "a placeholder to fill in by hand"
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60, check=True)
    items = json.loads(out.stdout)
    assert isinstance(items, list) and items and all(item["customer"] == items[0]["customer"] for item in items)
