"""Structured logs: one JSON object per line on stderr, for every request and for the server itself.

A request line carries the request id, method, path (no query string), status, latency, the size of
the request body (the image, for raw uploads) and of the answer, and the error code of a refusal; it
never carries the image or the recognised text, at any level. Example:

    {"ts": "2024-05-01T12:00:00.123Z", "level": "info", "logger": "ocrkit.requests", "msg": "request",
     "request_id": "9f1c...", "method": "POST", "path": "/predict", "status": 200, "latency_ms": 41.7,
     "request_bytes": 5123, "response_bytes": 88, "pid": 4242}

`configure(level)` installs the formatter on the `ocrkit` loggers (idempotent); `gunicorn_logconfig`
gives gunicorn the same format for its own messages. Standard library only.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

REQUEST_LOGGER = "ocrkit.requests"
_HANDLER_MARK = "_ocrkit_json"
# LogRecord attributes that are not extra fields.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line; `extra={...}` fields become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        created = time.gmtime(record.created)
        millis = int(record.msecs)
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", created) + f".{millis:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in out:
                out[key] = value
        if "pid" not in out:
            out["pid"] = record.process
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure(level: str | int = "info", stream=None) -> None:
    """Send the `ocrkit` loggers to stderr as JSON lines, unless they already have a handler (gunicorn's
    `logconfig_dict`, a test's capture); later calls only set the level."""
    logger = logging.getLogger("ocrkit")
    logger.setLevel(_level(level))
    if logger.handlers:
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    setattr(handler, _HANDLER_MARK, True)
    logger.addHandler(handler)
    logger.propagate = False


def gunicorn_logconfig(level: str = "info") -> dict:
    """A `logconfig_dict` for gunicorn: its own messages and ocrkit's, as JSON lines on stderr."""
    lvl = logging.getLevelName(_level(level))
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
        },
        "root": {"level": "WARNING", "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": lvl, "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            "ocrkit": {"level": lvl, "handlers": ["stderr"], "propagate": False},
        },
    }


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    value = logging.getLevelName(level.upper())
    if not isinstance(value, int):
        raise ValueError(f"unknown log level {level!r}; use debug, info, warning or error")
    return value
