"""docs/settings.md lists every environment variable the product reads."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ["telecomx", "core", "accounts", "callnotify", "sbcrules", "console"]
READERS = {"get", "getenv", "env_bool", "env_int", "env_list", "env_float", "env_str"}


def variables_read(source: str) -> set[str]:
    """Names passed as the first argument to os.environ.get / os.getenv / env_*(), or os.environ["X"]."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            is_environ = isinstance(func, ast.Attribute) and "environ" in ast.unparse(func.value)
            if (name in READERS and (is_environ or name != "get")) and isinstance(node.args[0].value, str):
                names.add(node.args[0].value)
        if isinstance(node, ast.Subscript) and "environ" in ast.unparse(node.value) and isinstance(node.slice, ast.Constant):
            names.add(node.slice.value)
    return {name for name in names if re.fullmatch(r"[A-Z][A-Z0-9_]*", name)}  # not WSGI's own keys


def test_the_reader_finds_every_way_of_reading():
    source = 'import os\nA = os.environ.get("A")\nB = env_int("B", 1)\nC = os.environ["C"]\nD = os.getenv("D")\nE = {}.get("E")'
    assert variables_read(source) == {"A", "B", "C", "D"}


def test_every_environment_variable_is_documented():
    read = set()
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                read |= variables_read(path.read_text())
    read |= set(re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", (ROOT / "bin" / "run").read_text())) & {"PORT"}
    # The first cell of each table row names the variable(s): `A` or `A` / `B`.
    first_cells = re.findall(r"^\| ([^|]+) \|", (ROOT / "docs/settings.md").read_text(), re.M)
    documented = {name for cell in first_cells for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cell)}
    missing = sorted(read - documented)
    assert not missing, f"read from the environment but not in docs/settings.md: {missing}"
    assert {"API_RATE_USER", "API_MAX_BODY_BYTES", "SECURE_HSTS_SECONDS", "DATABASE_URL"} <= read
