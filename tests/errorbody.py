"""The Telecom X error body as the tests expect it (docs/api.md §2), written out independently of core.errors."""

from __future__ import annotations


def error(status: int, code: str, message: str, path: str | None = None) -> dict:
    body: dict = {"code": code, "status": status, "message": message}
    if path:
        body["path"] = path
    return {"error": body}
