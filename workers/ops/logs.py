"""Structured logs: one JSON object per line when stderr is not a terminal.

Every line carries the capture id and the pipeline stage where they are known:

- in a worker thread running a job, the capture id is the job's first argument, read from
  dramatiq's ``CurrentMessage`` middleware (no code has to pass it along);
- anywhere else, :func:`log_context` sets them for a block (``with log_context(capture_id=…)``)
  and :func:`set_stage` updates the stage as the pipeline moves on.

On a terminal the lines stay human (time, level, process, logger, message, then the ids).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

_capture: ContextVar[str | None] = ContextVar("panodock_capture", default=None)
_stage: ContextVar[str | None] = ContextVar("panodock_stage", default=None)

_HUMAN = "%(asctime)s %(levelname)-7s %(processName)s[%(process)d] %(name)s: %(message)s"


@contextmanager
def log_context(*, capture_id: str | None = None, stage: str | None = None) -> Iterator[None]:
    """Tag every log line of this block (and this thread or task) with a capture and stage."""
    tokens = (_capture.set(capture_id), _stage.set(stage))
    try:
        yield
    finally:
        _capture.reset(tokens[0])
        _stage.reset(tokens[1])


def set_stage(stage: str | None) -> None:
    """The pipeline stage of the lines that follow, in this thread or task."""
    _stage.set(stage)


def _current_capture() -> str | None:
    found = _capture.get()
    if found is not None:
        return found
    try:
        from dramatiq.middleware import CurrentMessage

        from workers.queue.broker import PROCESS_CAPTURE
    except ImportError:  # pragma: no cover - dramatiq is a dependency
        return None
    message = CurrentMessage.get_current_message()
    if message is not None and message.actor_name == PROCESS_CAPTURE and message.args:
        return str(message.args[0])
    return None


class ContextFilter(logging.Filter):
    """Adds ``capture_id`` and ``stage`` attributes to every record (None when unknown)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "capture_id", None) is None:
            record.capture_id = _current_capture()
        if getattr(record, "stage", None) is None:
            record.stage = _stage.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC ISO 8601), level, logger, message, ids."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.process,
            "message": record.getMessage(),
            "capture_id": getattr(record, "capture_id", None),
            "stage": getattr(record, "stage", None),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class HumanFormatter(logging.Formatter):
    """The classic one-line format, with ``[capture/stage]`` appended when known."""

    def __init__(self) -> None:
        super().__init__(_HUMAN)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = "/".join(
            str(v)[:12]
            for v in (getattr(record, "capture_id", None), getattr(record, "stage", None))
            if v
        )
        return f"{text} [{ids}]" if ids else text


def setup_logging(
    level: str, *, stream: IO[str] | None = None, json_lines: bool | None = None
) -> logging.Handler:
    """Log to ``stream`` (stderr): JSON unless it is a terminal, or as ``json_lines`` says.

    Replaces the root logger's handlers, so calling it twice does not double the lines.
    """
    stream = stream if stream is not None else sys.stderr
    if json_lines is None:
        json_lines = not (hasattr(stream, "isatty") and stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if json_lines else HumanFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for chatty in ("dramatiq", "pyvips"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
    return handler
