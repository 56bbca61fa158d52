"""One log format for every process (docs/operations.md, "Logs"): JSON lines with `timestamp`
(ISO 8601, UTC), `level`, `logger`, `message`, `requestId` and the ids the line is about (passed
as `extra`), or plain text for a terminal (LOG_FORMAT=text, what bin/run uses).

The request id is a context variable: the request middleware sets it for the request's thread,
the delivery engine sets it to the id of the request that brought the event in while it works
on that event's deliveries, so every line either writes carries it without being passed around.
Used by Django's LOGGING (settings), gunicorn's logconfig_dict and the Celery worker; imports
nothing of Django, so gunicorn's master can load it.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# What the API keeps of a client's X-Request-ID (docs/api.md); anything else is replaced.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9\-_.:@]{1,128}")


def new_request_id() -> str:
    return uuid.uuid4().hex


def safe_request_id(value: str | None) -> str:
    return value if value and SAFE_REQUEST_ID.fullmatch(value) else new_request_id()


# A LogRecord's own attributes: never copied as "ids" of a line. Nor Django's `request` (its text
# is the full path with the query string, where a token may be: the request log says what matters).
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "requestId", "taskId", "request"}


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _task_id() -> str | None:
    celery_state = sys.modules.get("celery._state")
    task = celery_state.get_current_task() if celery_state else None  # type: ignore[attr-defined]
    return getattr(getattr(task, "request", None), "id", None) if task else None


def _gunicorn_access(record: logging.LogRecord, fields: dict[str, Any]) -> None:
    """gunicorn's access log passes its atoms as the record's args: the parts worth a field."""
    atoms = record.args if isinstance(record.args, dict) else {}
    fields.update({"method": atoms.get("m"), "path": atoms.get("U"), "status": _int(atoms.get("s")),
                   "durationMs": round(int(atoms.get("D") or 0) / 1000, 1)})
    rid = atoms.get("{x-request-id}o")
    if rid and rid != "-":
        fields["requestId"] = rid


def _int(value: object) -> object:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return value


class JsonFormatter(_JsonFormatter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(["message"], *args, **kwargs)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        log_data["timestamp"] = _timestamp(record)
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = record.message
        log_data["requestId"] = getattr(record, "requestId", None) or request_id.get()
        task = _task_id()
        if task:
            log_data["taskId"] = task
        if record.name == "gunicorn.access":
            _gunicorn_access(record, log_data)
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                log_data[key] = value
        log_data.update(message_dict)


class TextFormatter(logging.Formatter):
    """`2026-11-24T09:15:02.120Z INFO telecomx.requests [4f1c…] GET /api/sbc/route 200 status=200 …`"""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {}
        if record.name == "gunicorn.access":
            _gunicorn_access(record, fields)
        rid = fields.pop("requestId", None) or getattr(record, "requestId", None) or request_id.get()
        fields.update((k, v) for k, v in record.__dict__.items() if k not in _RESERVED and not k.startswith("_"))
        line = f"{_timestamp(record)} {record.levelname} {record.name}"
        if rid:
            line += f" [{rid}]"
        line += " " + record.getMessage()
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """A dictConfig for the processes of this project: one handler on standard error. Python's
    warnings go to the log too (logger py.warnings), in the same format."""
    logging.captureWarnings(True)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": {"()": f"{__name__}.{'TextFormatter' if log_format == 'text' else 'JsonFormatter'}"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "main", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # 4xx answers are the API working as documented; the request log has every request.
            "django.request": {"level": "ERROR"},
            # gunicorn's own loggers: the same handler, not gunicorn's (which would print twice).
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
        },
    }
