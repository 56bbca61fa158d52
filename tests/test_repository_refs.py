"""The repository stands on its own: nothing in it points at documents outside it or at files it
does not have."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# `../shared` or a `spec/` folder: the documents this project started from, which users never see.
OUTSIDE = re.compile(r"\.\./shared|shared/spec|(?<![\w.-])spec/")
# A Markdown document named in text, code or a link: `docs/api.md`, `(api.md)`, `events.md §1`.
# Not part of a URL or a longer path (`https://…/README.md`): those are not checked here.
DOCUMENT = re.compile(r"(?<![\w./-])((?:\.\.?/)?(?:[\w.-]+/)*[\w-]+\.md)\b(?:\s*§\s*(\d+[a-z]?(?:\.\d+)?))?")


def _tracked_texts():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        path = ROOT / name
        if name == "tests/test_repository_refs.py" or not path.is_file() or path.suffix in (".pem", ".key", ".sqlite3", ".png"):
            continue
        try:
            yield name, path, path.read_text()
        except UnicodeDecodeError:
            continue


def _resolve(path: Path, reference: str) -> Path | None:
    """A reference is read from the referring file's folder (Markdown links) or from the top."""
    for base in (path.parent, ROOT):
        candidate = (base / reference).resolve()
        if candidate.is_file() and candidate.is_relative_to(ROOT):
            return candidate
    return None


def _sections(document: Path) -> set[str]:
    """The numbered sections of a document: `## 5a. Health` is §5a, `### 10.3 Signatures` is §10.3."""
    return set(re.findall(r"^#+ (\d+[a-z]?(?:\.\d+)?)\.? ", document.read_text(), re.M))


def test_nothing_refers_to_documents_outside_the_repository():
    found = []
    for name, _path, text in _tracked_texts():
        found += [f"{name}:{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]
    assert not found, "references to documents outside the repository:\n" + "\n".join(found[:30])


def test_every_document_referred_to_exists_with_the_section_named():
    found = []
    for name, path, text in _tracked_texts():
        for n, line in enumerate(text.splitlines(), 1):
            for match in DOCUMENT.finditer(line):
                reference, section = match.groups()
                document = _resolve(path, reference)
                if document is None:
                    found.append(f"{name}:{n}: {reference} does not exist: {line.strip()}")
                elif section and section not in _sections(document):
                    found.append(f"{name}:{n}: {reference} has no §{section}: {line.strip()}")
    assert not found, "references to documents or sections that do not exist:\n" + "\n".join(found[:40])
