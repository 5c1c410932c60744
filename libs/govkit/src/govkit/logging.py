"""JSON logging with trace and span ids.

Every line is one JSON object with ``time`` (UTC, ISO 8601), ``level``, ``logger``,
``message``, ``component`` and, inside a span, ``trace_id`` and ``span_id`` (hex),
so that logs and traces can be joined. Personal data (emails, phone numbers,
names, card numbers, tokens) must never be passed to a logger: log identifiers.
"""

from __future__ import annotations

import logging
import sys

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter


class _TraceContextFilter(logging.Filter):
    """Adds ``trace_id``/``span_id`` of the current span and the component name."""

    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def filter(self, record: logging.LogRecord) -> bool:
        record.component = self.component
        # uvicorn adds a copy of the message with terminal colour codes.
        record.__dict__.pop("color_message", None)
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            record.trace_id = format(ctx.trace_id, "032x")
            record.span_id = format(ctx.span_id, "016x")
        return True


def configure_logging(component: str, level: str = "INFO", stream=None) -> None:
    """Send every log record of the process to ``stream`` (stderr) as JSON lines.

    Replaces the root logger's handlers, so calling it twice is harmless.
    uvicorn's own access log is turned off; the gateway writes its own access log.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )
    )
    handler.addFilter(_TraceContextFilter(component))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).disabled = True
    # httpx logs every request's full URL at INFO, query string (and so tokens) included.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
