"""How watchdog's inotify observer talks to the inbox watcher: events, overflows, errors.

The observer thread only forwards events to a queue (:class:`Forwarder`); watchdog 7.1 gives
no event for an inotify queue overflow, only a WARNING log record, which
:class:`OverflowLogHandler` turns into a call. :mod:`ingest.watcher` says what follows.
"""

from __future__ import annotations

import errno
import logging
import queue
from collections.abc import Callable
from pathlib import Path
from typing import Final

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)

from config.errors import InfrastructureError

# Everything else (attribute changes, directory "modified") only doubles the event traffic.
EVENT_FILTER: Final[list[type[FileSystemEvent]]] = [
    FileOpenedEvent,
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileModifiedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]
OVERFLOW_LOGGER: Final = "watchdog.observers.inotify_c"
_OVERFLOW_MESSAGE: Final = "Inotify queue overflowed"


def watch_error(inbox: Path, exc: OSError) -> InfrastructureError:
    """The error for an inotify watch that could not be added, with what to do."""
    if exc.errno in (errno.ENOSPC, errno.EMFILE):
        return InfrastructureError(
            f"cannot watch inbox {inbox}: the inotify limit is reached ({exc.strerror}); raise "
            f"fs.inotify.max_user_watches / max_user_instances with sysctl"
        )
    return InfrastructureError(f"cannot watch inbox {inbox}: {exc}")


class Forwarder(FileSystemEventHandler):
    """Runs on the observer thread: queue the event and return at once."""

    def __init__(self, events: queue.SimpleQueue[object]) -> None:
        super().__init__()
        self._events = events

    def dispatch(self, event: FileSystemEvent) -> None:
        self._events.put(event)


class OverflowLogHandler(logging.Handler):
    """Turns watchdog's overflow log record into a call (its only trace of an overflow)."""

    def __init__(self, on_overflow: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self._on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if record.getMessage().startswith(_OVERFLOW_MESSAGE):
                self._on_overflow()
        except Exception:
            self.handleError(record)
