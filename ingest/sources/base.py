"""The Source interface, its health model, and the polling loop most sources share.

A source finds captures somewhere (a watched folder, a share, a camera) and hands each to
``deliver`` (``ingest.intake.Intake``) as a :class:`~ingest.candidates.Candidate`. Sources
never hash for the ledger, never talk to Redis or storage: the callback does that, and its
content-addressed ledger is what makes the same file seen twice, or on two sources, one
capture.

Polled sources (share, USB, PTP) run one :meth:`PolledSource.scan` per ``poll_seconds`` on
their own thread; tests call :meth:`~PolledSource.scan` directly. A scan

1. delivers what an earlier scan spooled but could not deliver (:mod:`.spool`);
2. lists the source (:meth:`PolledSource._list`); a source that cannot be listed is
   *offline*: reported, and nothing is concluded about its files (never "all deleted");
3. keeps the files that are complete (:meth:`PolledSource._complete`) and not already
   imported (the spool's journal);
4. copies each into the spool with proof (sha256 of the bytes read = sha256 of the copy);
5. groups them into captures (:mod:`.grouping`) and delivers each group; only a delivered
   group is journaled, so anything interrupted is redone at the next scan.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from config.errors import ConfigError, InfrastructureError
from ingest.candidates import Candidate
from ingest.sources.grouping import Group, GroupFile, group_files
from ingest.sources.spool import RemoteFile, Spool, SpooledFile

log = logging.getLogger(__name__)

Deliver = Callable[[Candidate], object]


class SourceOffline(InfrastructureError):
    """A source cannot be reached (share unmounted, camera unplugged); nothing is concluded."""


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """What the status page shows for one source; times are wall-clock seconds."""

    name: str
    kind: str
    site: str
    online: bool
    detail: str  # what it is watching, or why it is offline, in words for a technician
    last_scan_at: float | None
    files_pending: int  # seen but not imported yet (incomplete, or failed and retried)
    files_imported: int  # since start
    errors: int
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the status service."""
        return asdict(self)


class Source(ABC):
    """One configured place captures come from."""

    kind: ClassVar[str]

    def __init__(self, name: str, *, site: str) -> None:
        self.name = name
        self.site = site

    @abstractmethod
    def start(self) -> None:
        """Start watching or polling in the background."""

    @abstractmethod
    def stop(self, timeout: float = 10.0) -> None:
        """Stop and join the background thread."""

    @abstractmethod
    def scan_now(self) -> None:
        """Ask for a scan as soon as possible; returns at once."""

    @abstractmethod
    def health(self) -> SourceHealth:
        """A consistent snapshot for the status page."""


class PolledSource(Source):
    """A source read by periodic scans that copy into a spool (see module docstring).

    Parameters
    ----------
    name:
        The configured name; also the spool sub-folder and the prefix of each origin.
    deliver:
        The intake callback. It may raise: the spooled group stays and is delivered again
        at the next scan.
    spool_root:
        panodock's spool folder (under the data dir); this source uses ``spool_root/name``.
    site:
        Site of captures whose sidecar names none.
    poll_seconds:
        Interval between scans.
    group_gap_seconds:
        Time gap of the grouping rule (:func:`~ingest.sources.grouping.group_files`).
    clock:
        Wall-clock seconds, for health and stability windows.
    accepting:
        False while intake is paused (a full disk): a scan then copies and delivers
        nothing, so the camera or share keeps the files; None = always.
    """

    def __init__(
        self,
        name: str,
        *,
        deliver: Deliver,
        spool_root: Path,
        site: str,
        poll_seconds: float = 1.0,
        group_gap_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
        accepting: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(name, site=site)
        if poll_seconds <= 0 or group_gap_seconds < 0:
            raise ConfigError(
                f"source {name}: poll_seconds must be > 0 and group_gap_seconds >= 0, "
                f"got {poll_seconds} and {group_gap_seconds}"
            )
        self._poll = poll_seconds
        self._gap = group_gap_seconds
        self._clock = clock
        self._accepting = accepting
        self._spool = Spool(Path(spool_root) / name, deliver=deliver, site=site)
        self._scan_lock = threading.Lock()  # one scan at a time (thread or test)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

        self._lock = threading.Lock()
        self._online = False
        self._detail = "not scanned yet"
        self._last_scan_at: float | None = None
        self._pending = 0
        self._imported = 0
        self._errors = 0
        self._last_error: str | None = None

    # -- what each kind provides --------------------------------------------------------

    @abstractmethod
    def _list(self) -> Sequence[RemoteFile]:
        """Every file the source offers now; raises :class:`SourceOffline` if unreachable."""

    @abstractmethod
    def _copy(self, remote: RemoteFile, dest: Path) -> str:
        """Copy ``remote`` to ``dest``; return the sha256 of the bytes as read from it.

        Raises OSError or :class:`SourceOffline` when the copy is interrupted.
        """

    def _complete(self, files: Sequence[RemoteFile]) -> list[RemoteFile]:
        """The files that are complete now (a camera's files always are)."""
        return list(files)

    def _plan(self, files: Sequence[GroupFile]) -> list[Group]:
        """Captures made of ``files`` (the grouping rule; a share adds its inbox rules)."""
        return group_files(files, gap_seconds=self._gap)

    def _origin(self, remote: RemoteFile) -> str:
        """Where a file came from, in words the ledger shows a technician."""
        return f"{self.kind} {self.name}:{remote.path}"

    def _imported_group(self, group: Group, files: Sequence[SpooledFile]) -> None:
        """Called after a group was delivered (PTP deletes from the camera here)."""

    # -- control ------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"source {self.name} is already started")
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"panodock-source-{self.name}", daemon=True
        )
        self._thread.start()
        log.info("source %s (%s) started", self.name, self.kind)

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self._thread = None
        self._close()

    def scan_now(self) -> None:
        self._wake.set()

    def health(self) -> SourceHealth:
        with self._lock:
            return SourceHealth(
                name=self.name,
                kind=self.kind,
                site=self.site,
                online=self._online,
                detail=self._detail,
                last_scan_at=self._last_scan_at,
                files_pending=self._pending,
                files_imported=self._imported,
                errors=self._errors,
                last_error=self._last_error,
            )

    def _close(self) -> None:
        """Release what the source holds open (a camera); called by :meth:`stop`."""

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.scan()
            except Exception as exc:  # never let the thread die: the next scan tries again
                log.exception("source %s: scan failed", self.name)
                self._record_error(f"source {self.name}: {exc!r}")
            self._wake.wait(self._poll)
            self._wake.clear()

    # -- one scan -----------------------------------------------------------------------

    def scan(self) -> int:
        """Run one scan now (module docstring); returns the number of groups delivered."""
        with self._scan_lock:
            return self._scan()

    def _scan(self) -> int:
        if self._accepting is not None and not self._accepting():
            return 0  # intake is paused (the watcher's health says why)
        delivered = self._spool.redeliver()
        try:
            listed = self._list()
        except SourceOffline as exc:
            self._set_state(online=False, detail=str(exc))
            return delivered
        complete = self._complete(listed)
        new = [f for f in complete if not self._spool.is_imported(f)]
        self._set_state(
            online=True,
            detail=self._online_detail(),
            pending=sum(1 for f in listed if not self._spool.is_imported(f)),
        )
        if not new:
            return delivered
        staged: dict[str, SpooledFile] = {}
        self._spool.clear_staging()  # an interrupted earlier copy is redone from scratch
        for remote in new:
            try:
                staged[remote.path] = self._spool.fetch(remote, self._copy)
            except (OSError, SourceOffline) as exc:
                message = (
                    f"source {self.name}: copying {remote.path} was interrupted ({exc}); "
                    f"it is copied again at the next scan"
                )
                log.warning("%s", message)
                self._record_error(message)
                if isinstance(exc, SourceOffline) or not self._reachable():
                    self._set_state(online=False, detail=f"lost during a copy: {exc}")
                    return delivered
            except ValueError as exc:  # the verification failed: the file changed or lied
                log.warning("source %s: %s", self.name, exc)
                self._record_error(f"source {self.name}: {exc}")
        groups = self._plan([s.group_file for s in staged.values()])
        for group in groups:
            files = [staged[path] for path in group.paths]
            try:
                self._spool.deliver(group, files, origins=[self._origin(f.remote) for f in files])
            except Exception as exc:
                log.exception("source %s: delivering %s failed", self.name, group.name)
                self._record_error(f"source {self.name}: {group.name}: {exc!r}")
                continue
            delivered += 1
            with self._lock:
                self._imported += len(files)
                self._pending = max(0, self._pending - len(files))
            self._imported_group(group, files)
        return delivered

    def _reachable(self) -> bool:
        """Whether the source still answers (after a failed copy)."""
        try:
            self._list()
        except (SourceOffline, OSError):
            return False
        return True

    def _online_detail(self) -> str:
        return "online"

    def _set_state(self, *, online: bool, detail: str, pending: int | None = None) -> None:
        with self._lock:
            if self._online and not online:
                log.warning("source %s went offline: %s", self.name, detail)
            self._online = online
            self._detail = detail
            self._last_scan_at = self._clock()
            if pending is not None:
                self._pending = pending

    def _record_error(self, message: str) -> None:
        with self._lock:
            self._errors += 1
            self._last_error = message
