"""The inbox watcher: finds complete captures in a folder and hands each to a callback.

It does no hashing, no Redis and no storage: the callback (``ingest.intake``) hashes,
records in the durable ledger, archives and queues. inotify events are hints that make
delivery fast; the periodic rescan is the truth (BRIEF.md, "Queue, watcher, storage facts").
What makes a capture complete (the inbox rules, and how open and close events are counted)
is :mod:`ingest.candidates`; this module runs the observer, the rescans and the deliveries.

Rescans
-------
Rescans run at start-up (taking files dropped while the service was down), every
``rescan_seconds``, on :meth:`InboxWatcher.scan_now` and after an inotify queue overflow.
A file that is not settled yet is re-checked when it will be, not at the next rescan.

Overflow
--------
watchdog 7.1 gives handlers no event for IN_Q_OVERFLOW: it logs ``"Inotify queue overflowed"``
at WARNING on ``watchdog.observers.inotify_c`` and re-adds its recursive watches. The watcher
listens for that record (while started), counts it in :attr:`WatcherHealth.overflows` and
rescans. It forgets what events told it (lost closes would hold files forever) and counts no
opens for two seconds (late events may be halves of lost pairs): every file falls back to the
settle rule. If an application silences that logger above WARNING, overflows go uncounted
and the periodic rescan is the only safety net. Every watcher in the process sees every
overflow (harmless). Sub-folders watchdog could not watch are left to the rescans too.

Threads
-------
The watchdog observer only puts events on a queue. One worker thread applies them, runs the
scans and calls ``on_candidate``, so a slow callback delays delivery but never loses events.
A candidate is delivered once per content: the watcher remembers (root, per-file size and
mtime_ns) in memory and delivers again only if that changes. If the callback raises, the error
is logged and counted and the candidate is retried at the next full rescan.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from watchdog.events import DirDeletedEvent, FileDeletedEvent, FileSystemEvent
from watchdog.observers.inotify import InotifyObserver

from config.errors import ConfigError, InfrastructureError
from ingest.candidates import (
    Candidate,
    InboxFiles,
    Signature,
    WaitingFolder,
    is_ignored_name,
    waiting_message,
)
from ingest.watch_events import (
    EVENT_FILTER,
    OVERFLOW_LOGGER,
    Forwarder,
    OverflowLogHandler,
    watch_error,
)

__all__ = ["InboxWatcher", "WatcherHealth"]

log = logging.getLogger(__name__)

_MAX_BATCH: Final = 10_000  # events applied before the dirty roots are checked
# After an overflow, events still in watchdog's pipeline may be stale halves of lost pairs.
_DISTRUST_SECONDS: Final = 2.0
_RESCAN: Final = object()
_OVERFLOW: Final = object()
_STOP: Final = object()


@dataclass(frozen=True, slots=True)
class WatcherHealth:
    """A snapshot of the watcher for the status page; times are ``clock()`` seconds."""

    running: bool
    last_scan_at: float | None
    scans: int
    overflows: int
    candidates_delivered: int
    errors: int
    last_error: str | None
    pending: int = 0  # candidates waiting to settle or to be retried after a failed callback
    waiting: tuple[WaitingFolder, ...] = ()  # folders without capture.json, not quiet yet


class InboxWatcher:
    """Watch ``inbox`` and call ``on_candidate`` once per complete capture.

    What is complete follows the inbox rules of :mod:`ingest.candidates`; when the watcher
    looks, and what it does after an overflow, is in this module's docstring.

    Parameters
    ----------
    inbox:
        The watched folder; created by :meth:`start` if missing (its parent must exist).
        Symlinks in its path are resolved, so candidate paths lie under the real folder.
    on_candidate:
        Called from the watcher's one worker thread. It may raise: the error is logged and
        counted, and the candidate is offered again at the next full rescan.
    settle_seconds:
        Age (or watched stability) a file needs after its last write and close.
    folder_settle_seconds:
        Quiet a folder without ``capture.json`` needs before it is taken.
    rescan_seconds:
        Interval of the full rescan.
    clock:
        Wall-clock seconds, comparable with file mtimes; thread timing uses ``time.monotonic``.
    accepting:
        Asked before each delivery; while it returns False nothing is delivered and files
        stay in the inbox untouched (intake paused, e.g. for want of disk space).
    """

    def __init__(
        self,
        inbox: Path,
        on_candidate: Callable[[Candidate], object],
        *,
        settle_seconds: float = 2.0,
        folder_settle_seconds: float = 120.0,
        rescan_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
        accepting: Callable[[], bool] | None = None,
    ) -> None:
        if min(settle_seconds, folder_settle_seconds) < 0 or rescan_seconds <= 0:
            raise ConfigError(
                f"inbox watcher: settle_seconds and folder_settle_seconds must be >= 0 and "
                f"rescan_seconds > 0, got {settle_seconds}, {folder_settle_seconds} and "
                f"{rescan_seconds}"
            )
        self._inbox = Path(inbox).absolute()
        self._on_candidate = on_candidate
        # Pause hook (free space, workers.service.free_space): False leaves files untouched.
        self._accepting = accepting
        self._rescan = rescan_seconds
        self._clock = clock

        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._observer: InotifyObserver | None = None
        self._worker: threading.Thread | None = None
        self._overflow_handler: OverflowLogHandler | None = None

        # Touched only by the worker thread.
        self._tracked = InboxFiles(
            self._inbox,
            settle_seconds=settle_seconds,
            folder_settle_seconds=folder_settle_seconds,
            clock=clock,
        )
        self._delivered: dict[Path, Signature] = {}
        self._failed: dict[Path, Signature] = {}  # retried only by a full rescan

        # Read by health() from any thread.
        self._lock = threading.Lock()
        self._last_scan_at: float | None = None
        self._scans = 0
        self._overflows = 0
        self._delivered_count = 0
        self._errors = 0
        self._last_error: str | None = None
        self._pending = 0
        self._waiting: dict[Path, tuple[int, float]] = {}  # a copy of InboxFiles.waiting

    @property
    def inbox(self) -> Path:
        """The watched folder (absolute, and after :meth:`start` with symlinks resolved)."""
        return self._inbox

    # -- control, from any thread -------------------------------------------------------

    def start(self) -> None:
        """Create the inbox if needed, start watching and run the first full rescan.

        Raises
        ------
        ConfigError
            The inbox cannot be created (missing parent, not a folder, permission).
        InfrastructureError
            inotify refused the watch (instance or watch limit reached).
        """
        if self._worker is not None:
            raise RuntimeError(f"inbox watcher for {self._inbox} is already started")
        self._create_inbox()
        self._queue = queue.SimpleQueue()
        # Opens and closes went unseen while stopped; what was delivered is still true.
        self._tracked.inbox = self._inbox
        self._tracked.reset()
        observer: InotifyObserver | None = None
        try:
            observer = InotifyObserver(generate_full_events=True)  # starts watchdog's reader
            observer.name = "panodock-inbox-observer"
            observer.schedule(
                Forwarder(self._queue),
                str(self._inbox),
                recursive=True,
                event_filter=EVENT_FILTER,
            )
            observer.start()
        except OSError as exc:
            if observer is not None:
                observer.stop()
            raise watch_error(self._inbox, exc) from exc
        self._observer = observer
        self._overflow_handler = OverflowLogHandler(self._on_overflow)
        logging.getLogger(OVERFLOW_LOGGER).addHandler(self._overflow_handler)
        self._worker = threading.Thread(target=self._run, name="panodock-inbox-worker", daemon=True)
        self._worker.start()
        log.info("watching inbox %s", self._inbox)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching and join both threads (each waits up to ``timeout`` seconds)."""
        if self._overflow_handler is not None:
            logging.getLogger(OVERFLOW_LOGGER).removeHandler(self._overflow_handler)
            self._overflow_handler = None
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout)
            self._observer = None
        if self._worker is not None:
            self._queue.put(_STOP)
            self._worker.join(timeout)
            if self._worker.is_alive():  # start() refuses until a later stop() joins it
                log.warning(
                    "inbox watcher for %s: worker still busy (in the callback?) after %.0f s",
                    self._inbox,
                    timeout,
                )
            else:
                self._worker = None

    def scan_now(self) -> None:
        """Ask the worker thread for a full rescan; returns at once."""
        self._queue.put(_RESCAN)

    def health(self) -> WatcherHealth:
        """A consistent snapshot of the counters."""
        observer, worker = self._observer, self._worker
        running = (
            observer is not None
            and observer.is_alive()
            and worker is not None
            and worker.is_alive()
        )
        with self._lock:
            now = self._clock()
            waiting = tuple(
                WaitingFolder(root.name, files, max(0.0, at - now), waiting_message(at - now))
                for root, (files, at) in sorted(self._waiting.items())
            )
            return WatcherHealth(
                running=running,
                last_scan_at=self._last_scan_at,
                scans=self._scans,
                overflows=self._overflows,
                candidates_delivered=self._delivered_count,
                errors=self._errors,
                last_error=self._last_error,
                pending=self._pending,
                waiting=waiting,
            )

    def _create_inbox(self) -> None:
        try:
            self._inbox.mkdir(exist_ok=True)
        except FileNotFoundError as exc:
            raise ConfigError(
                f"inbox {self._inbox}: its parent folder does not exist "
                f"(is the share mounted?); create it or fix the inbox setting"
            ) from exc
        except OSError as exc:
            raise ConfigError(f"inbox {self._inbox} cannot be created: {exc.strerror}") from exc
        if not self._inbox.is_dir():
            raise ConfigError(f"inbox {self._inbox} exists but is not a folder")
        # inotify with IN_DONT_FOLLOW would watch a symlinked inbox itself, not the folder.
        self._inbox = self._inbox.resolve()

    def _on_overflow(self) -> None:
        with self._lock:
            self._overflows += 1
        self._queue.put(_OVERFLOW)

    def _record_error(self, message: str) -> None:
        with self._lock:
            self._errors += 1
            self._last_error = message

    # -- the worker thread ----------------------------------------------------------------

    def _run(self) -> None:
        next_scan = time.monotonic()  # the start-up rescan
        item: object | None = None  # the first item of the next batch, when one was cut short
        while True:
            if item is None:
                wake = min([next_scan, *self._tracked.due.values()])
                try:
                    item = self._queue.get(timeout=max(0.0, wake - time.monotonic()))
                except queue.Empty:
                    item = None
            rescan = False
            dirty: set[Path] = set()
            for _ in range(_MAX_BATCH):
                if item is None:
                    break
                if item is _STOP:
                    return
                if item is _RESCAN:
                    rescan = True
                elif item is _OVERFLOW:
                    self._tracked.distrust(_DISTRUST_SECONDS)
                    rescan = True
                elif isinstance(item, FileSystemEvent):
                    dirty.update(self._apply_logged(item))
                item = _next_or_none(self._queue)
            try:
                if rescan or time.monotonic() >= next_scan:
                    next_scan = time.monotonic() + self._rescan
                    self._scan_all()
                else:
                    now = time.monotonic()
                    dirty.update(root for root, due in self._tracked.due.items() if due <= now)
                    for root in sorted(dirty):
                        self._check(root, retry_failed=False)
            except InfrastructureError as exc:
                log.error("%s", exc)
                self._record_error(str(exc))
            except Exception as exc:  # never let the thread die: the next rescan tries again
                log.exception("inbox %s: scan failed", self._inbox)
                self._record_error(f"inbox {self._inbox}: {exc!r}")
            self._publish_waiting()

    def _publish_waiting(self) -> None:
        """Copy the pending counts for :meth:`health`; log each newly waiting folder once."""
        waiting = dict(self._tracked.waiting)
        for root in waiting.keys() - self._waiting.keys():
            log.info("inbox folder %s has no capture.json: %s", root, waiting_message(
                waiting[root][1] - self._clock()))  # fmt: skip
        with self._lock:
            self._pending = len(self._tracked.due.keys() | self._failed.keys())
            self._waiting = waiting

    def _apply_logged(self, event: FileSystemEvent) -> list[Path]:
        try:
            return self._apply(event)
        except Exception as exc:  # the rescan will see the file anyway
            log.exception("inbox %s: cannot apply %r", self._inbox, event)
            self._record_error(f"{os.fsdecode(event.src_path)}: {exc!r}")
            return []

    def _apply(self, event: FileSystemEvent) -> list[Path]:
        """Apply one event to what is known of the files; return the roots to re-check."""
        deleted = isinstance(event, (FileDeletedEvent, DirDeletedEvent))
        if deleted and event.src_path and Path(os.fsdecode(event.src_path)) == self._inbox:
            log.error("inbox %s was deleted; restart the watcher once it is back", self._inbox)
            self._record_error(f"inbox {self._inbox} was deleted")
            return []
        return self._tracked.apply(event)

    def _scan_all(self) -> None:
        roots: set[Path] = set()
        try:
            with os.scandir(self._inbox) as entries:
                for entry in entries:
                    if not is_ignored_name(entry.name):
                        roots.add(self._inbox / entry.name)
        except OSError as exc:
            raise InfrastructureError(
                f"inbox {self._inbox} cannot be listed ({exc.strerror}); is its share mounted?"
            ) from exc
        for root in sorted(roots):
            self._check(root, retry_failed=True)
        for table in (self._delivered, self._failed, self._tracked.due, self._tracked.waiting):
            for root in [r for r in table if r not in roots]:
                del table[root]
        self._tracked.prune()
        with self._lock:
            self._scans += 1
            self._last_scan_at = self._clock()

    def _check(self, root: Path, *, retry_failed: bool) -> None:
        """Deliver ``root`` if it is a complete candidate whose content is new."""
        try:
            found = self._tracked.candidate(root)
        except OSError as exc:  # e.g. a folder copied in without read permission for us
            log.error("inbox candidate %s cannot be read: %s", root, exc)
            self._record_error(f"{root}: {exc!r}")
            return
        if found is None:
            return
        candidate, signature = found
        if self._delivered.get(root) == signature:
            return
        if not retry_failed and self._failed.get(root) == signature:
            return
        if self._accepting is not None and not self._accepting():
            return  # intake paused: the file stays; a rescan (scan_now on resume) retries
        try:
            self._on_candidate(candidate)
        except InfrastructureError as exc:  # e.g. Redis cannot write: a known cause, one line
            log.error("inbox candidate %s: %s; retrying at the next rescan", root, exc)
            self._record_error(f"{root}: {exc}")
            self._failed[root] = signature
            return
        except Exception as exc:
            log.exception("inbox candidate %s: callback failed; retrying at the next rescan", root)
            self._record_error(f"{root}: {exc!r}")
            self._failed[root] = signature
            return
        self._failed.pop(root, None)
        self._delivered[root] = signature
        with self._lock:
            self._delivered_count += 1


def _next_or_none(events: queue.SimpleQueue[object]) -> object | None:
    try:
        return events.get_nowait()
    except queue.Empty:
        return None
