"""The repository stands on its own: nothing in it points at documents outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# `../shared`, a `spec/` folder, or bare api.md / events.md / routing.md (this repository's own
# documents are named by their path, docs/api.md, or linked from inside docs/ as (api.md)).
OUTSIDE = re.compile(r"\.\./shared|shared/spec|(?<![\w/\[(])(?:spec/)?(?:api|events|routing)\.md")


def test_nothing_refers_to_documents_outside_the_repository():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    found = []
    for name in files:
        path = ROOT / name
        if name == "tests/test_repository_refs.py" or not path.is_file() or path.suffix in (".pem", ".key", ".sqlite3"):
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        found += [f"{name}:{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]
    assert not found, "references to documents outside the repository:\n" + "\n".join(found[:30])
