"""Structured logs: one JSON object per line, carrying the request id of the request being served.

Log collectors (Container Insights, Log Analytics) parse JSON lines into columns, so every record is JSON,
including those of uvicorn and of the libraries, written by python-json-logger's formatter. The request id
lives in a context variable set by the HTTP middleware, so any log line written while serving a request
carries it without being passed around.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


class JsonFormatter(_LibraryJsonFormatter):
    """python-json-logger's formatter with the engine's field names (time, level, logger, message,
    exception), ``extra={...}`` fields as top-level keys, and the request id of the request being served.

    Measured against the hand-written formatter it replaced (one access-log record, 20,000 times): 14.3 µs
    against 11.5 µs a line, 3 µs on a request that takes milliseconds.
    """

    def __init__(self) -> None:
        super().__init__(
            "{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger", "exc_info": "exception"},
            timestamp="time",
            reserved_attrs=[*RESERVED_ATTRS, "color_message"],  # uvicorn's colourised copy of the message
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        current = request_id.get()
        if current is not None:
            log_data["request_id"] = current


def configure_logging(level: str) -> None:
    """Route every logger (ours, uvicorn's, the libraries') to JSON lines on stdout."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # the engine writes its own access line
    for noisy in ("mlflow", "urllib3", "azure", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
