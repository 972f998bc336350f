"""Logging for every process: one JSON object a line in production (`log_format=json`, the
default), plain lines in development (`make run` sets `plain`).

Every line carries `service`, the OpenTelemetry `trace_id` when a span is current, and the
ids of what it concerns — set once per request or job with `log_context(...)` (context
variables, so concurrent requests never mix their ids) instead of repeated in each message.
Logs never carry message text, tokens or secrets at INFO: what a line says about a message is
its ids.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

from pythonjsonlogger.json import JsonFormatter

_context: ContextVar[Mapping[str, Any]] = ContextVar("tt_log_context", default=MappingProxyType({}))

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

try:  # OpenTelemetry is optional: installed where traces are exported
    from opentelemetry import trace as _otel_trace
except ImportError:  # pragma: no cover - depends on the environment
    _otel_trace = None


def current_trace_id() -> str | None:
    """The current OpenTelemetry span's trace id (32 hex digits), or None."""
    if _otel_trace is None:
        return None
    context = _otel_trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def bind_log_context(**ids: Any) -> None:
    """Add ids to every later line of this task (a request or a job runs in its own task,
    so nothing leaks to the next one). None values are left out."""
    _context.set({**_context.get(), **{k: v for k, v in ids.items() if v is not None}})


@contextmanager
def log_context(**ids: Any) -> Iterator[None]:
    """`bind_log_context` for a block."""
    token = _context.set({**_context.get(), **{k: v for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Puts `service`, `trace_id` and the bound ids on each record (a handler's filter, so it
    sees every logger's records, libraries' too)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.trace_id = current_trace_id()
        ids = _context.get()
        record.ids = ids
        for key, value in ids.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class PlainFormatter(logging.Formatter):
    """The development line, with the bound ids at its end: `… [project_id=1 job_id=…]`."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids: Mapping[str, Any] = getattr(record, "ids", {})
        trace_id = getattr(record, "trace_id", None)
        extra = [f"{k}={v}" for k, v in ids.items()]
        if trace_id:
            extra.append(f"trace_id={trace_id}")
        return f"{line} [{' '.join(extra)}]" if extra else line


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(service)s %(trace_id)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        reserved_attrs=[*logging.LogRecord("", 0, "", 0, "", None, None).__dict__, "ids"],
        timestamp=False,
    )


def configure_logging(
    level: str, log_format: str = "plain", service: str = "service", stream: Any = None
) -> logging.Handler:
    """Replace the root logger's handlers with one that writes `log_format` lines to stderr
    (or `stream`). Uvicorn is started without a logging config of its own, so its loggers
    propagate here. Returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter(service))
    handler.setFormatter(json_formatter() if log_format == "json" else PlainFormatter(PLAIN_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
