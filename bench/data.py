"""Data and targets of bench/api.py beyond call notify (filled in as the apps land)."""

from __future__ import annotations


def load(*, customer, admin) -> dict:  # type: ignore[no-untyped-def]
    return {}


def targets(setup: dict) -> list[tuple]:
    return []
