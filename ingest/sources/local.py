"""A local folder watched with inotify: the inbox watcher, as a source.

Files are read in place by the intake, which hashes them and archives them to ``raw/`` from
the same bytes before anything else happens, so no spool copy is needed. The inbox rules
(single files at the root, capture folders complete by their ``capture.json``) are those of
:mod:`ingest.candidates`, the overflow handling that of :class:`ingest.watcher.InboxWatcher`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from ingest.candidates import Candidate
from ingest.sources.base import Deliver, Source, SourceHealth
from ingest.watcher import InboxWatcher


class LocalSource(Source):
    """Watch a local folder (module docstring).

    Parameters
    ----------
    name, site:
        As every source.
    path:
        The folder; created at start if missing.
    deliver:
        The intake callback; candidates carry this source's site and origin.
    settle_seconds, rescan_seconds, clock:
        As :class:`~ingest.watcher.InboxWatcher`.
    """

    kind: ClassVar[str] = "local"

    def __init__(
        self,
        name: str,
        path: Path,
        *,
        deliver: Deliver,
        site: str,
        settle_seconds: float = 2.0,
        rescan_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
        accepting: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(name, site=site)
        self._deliver = deliver
        self.watcher = InboxWatcher(
            path,
            self._forward,
            settle_seconds=settle_seconds,
            rescan_seconds=rescan_seconds,
            clock=clock,
            accepting=accepting,
        )

    def _forward(self, candidate: Candidate) -> object:
        origin = f"{self.kind} {self.name}:{candidate.root}"
        return self._deliver(dataclasses.replace(candidate, site=self.site, origin=origin))

    def start(self) -> None:
        self.watcher.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.watcher.stop(timeout)

    def scan_now(self) -> None:
        self.watcher.scan_now()

    def health(self) -> SourceHealth:
        h = self.watcher.health()
        detail = f"watching {self.watcher.inbox}" if h.running else "not running"
        if h.overflows:
            detail += f" ({h.overflows} inotify overflow(s), recovered by rescans)"
        return SourceHealth(
            name=self.name,
            kind=self.kind,
            site=self.site,
            online=h.running,
            detail=detail,
            last_scan_at=h.last_scan_at,
            files_pending=h.pending,
            files_imported=h.candidates_delivered,
            errors=h.errors,
            last_error=h.last_error,
        )
