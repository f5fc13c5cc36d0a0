"""What a capture in the inbox is, and when it is complete: the inbox rules.

:class:`InboxFiles` keeps what inotify events and stat checks told about each file and
answers one question, :meth:`InboxFiles.candidate`: is the capture at this root complete
now? It starts no thread and delivers nothing; :class:`ingest.watcher.InboxWatcher` feeds
it events, asks it at rescans and delivers what it finds.

Inbox rules
-----------
- A regular file directly in the inbox root is a single-file capture. Symlinks, fifos and
  sockets are never taken (a symlink could point anywhere on the machine).
- A sub-folder of the inbox root is a capture folder. It is complete once its top-level
  ``capture.json`` is complete (the capture app writes it last) and no file in the folder is
  open by a writer the watcher saw. Its candidate lists every regular file in the folder,
  recursively, sorted, including ``capture.json``.
- A folder without ``capture.json`` (a DSLR card, a rotating head) is taken once nothing in
  it has changed for ``folder_settle_seconds``: no file held by a writer, and neither its
  files' nor its folders' mtimes newer than that, or its listing (names, sizes, mtimes)
  unchanged that long while watched. Until then it is *waiting* (:attr:`InboxFiles.waiting`,
  shown by ``panodock status``, the API and ``/ops``); an empty folder is not a capture.
  A ``capture.json`` that arrives later makes new content, delivered again.
- Hidden names (leading ``.``) and partial-download names (``*.part``, ``*.tmp``,
  ``*.crdownload``, ``~*``, ``*~``; suffixes in any case) are ignored at every depth, so a
  browser's ``x.jpg.part`` is taken when it is renamed to ``x.jpg``.
- A file is complete when
  1. a moved-into event arrives for it (a rename is atomic: the writer finished) and it was
     not written since; or
  2. no writer the watcher saw open it still holds it, and it has settled: its mtime is
     ``settle_seconds`` old, or its (size, mtime) has stayed unchanged for ``settle_seconds``
     while watched (a camera clock ahead of ours puts mtimes in the future).
  A close-after-write is NOT enough: a slow network copy opens, appends and closes the file
  again and again, so a file must settle after its *last* close. The close only makes the
  watcher look at the file again (and schedule the re-check for when it will have settled).
- A file that is not settled yet is re-checked when it will be (:attr:`InboxFiles.due`),
  not at the next rescan.

Writers, as watchdog 7.1's inotify backend shows them
-----------------------------------------------------
It emits ``FileOpenedEvent`` for every open (IN_OPEN does not tell readers from writers),
``FileClosedEvent`` for the close of a writable descriptor and ``FileClosedNoWriteEvent`` for
the close of a read-only one, plus ``FileModifiedEvent`` per write. The counts are opens
minus closes per path, and a file is held while its count is positive. A write seen
without an open (the writer opened before we started, or the kernel merged two adjacent
identical IN_OPEN events) counts as one open; a close-after-write resets the count, because
adjacent identical closes can be merged as well and a count left above zero would hold the
file forever. A file opened in a folder created a moment earlier may show no open at all
(the folder's watch is added after the fact), so such files fall back to the settle rule.
Known gap: ``truncate(path)`` on a file nobody has open is seen as a write with no close and
holds the file until someone opens and closes it.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from watchdog.events import (
    DirDeletedEvent,
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemMovedEvent,
)

from ingest.sidecar import SIDECAR_NAME

_PARTIAL_SUFFIXES: Final = (".part", ".tmp", ".crdownload")

#: (path relative to the root, size, mtime_ns) of every file of a candidate: its content,
#: as far as the watcher can tell without reading it.
Signature = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A complete capture found in the inbox."""

    root: Path  # the file, or the capture folder
    files: tuple[Path, ...]  # the file itself, or every file of the folder (sorted)
    is_folder: bool
    # Set by capture sources (ingest.sources); the inbox watcher leaves them None.
    site: str | None = None  # the source's site, for a capture whose sidecar names none
    origin: str | None = None  # where a spooled copy came from, e.g. "ptp theta:/DCIM/.."
    note: str | None = None  # how its files were grouped, recorded in the capture's history


@dataclass(frozen=True, slots=True)
class WaitingFolder:
    """A capture folder without ``capture.json`` that is not quiet long enough yet."""

    folder: str  # its name in the inbox
    files: int
    remaining_seconds: float  # of quiet still needed (as of the snapshot)
    message: str  # for a technician: "waiting for capture.json, or 94 s more of quiet"


def waiting_message(remaining_seconds: float) -> str:
    """What a waiting folder is waiting for, in words."""
    return f"waiting for capture.json, or {max(0, round(remaining_seconds))} s more of quiet"


def is_ignored_name(name: str) -> bool:
    """True for hidden and partial-download names, which the watcher never takes."""
    return (
        name.startswith((".", "~"))
        or name.endswith("~")
        or name.lower().endswith(_PARTIAL_SUFFIXES)
    )


def walk_files(folder: Path) -> list[Path]:
    """Every regular file below ``folder`` whose path has no ignored name; no symlinks.

    A folder that is gone (or is not a folder) has no files.
    """
    found: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return found
    for entry in entries:
        if is_ignored_name(entry.name):
            continue
        if entry.is_dir(follow_symlinks=False):
            found.extend(walk_files(Path(entry.path)))
        elif entry.is_file(follow_symlinks=False):
            found.append(Path(entry.path))
    return found


@dataclass(slots=True)
class _FileState:
    """What the events and checks told us about one file."""

    opens: int = 0  # opens minus closes seen; > 0 means a writer may still hold it
    moved_in: bool = False  # a move-in arrived since the last write: complete at once
    stat_key: tuple[int, int] | None = None  # (size, mtime_ns) when last checked
    stable_since: float = 0.0  # clock() when stat_key was first seen


class InboxFiles:
    """What events and checks told about the files of ``inbox`` (module docstring).

    Not thread-safe: one thread (the watcher's worker) owns it.

    Parameters
    ----------
    inbox:
        The watched folder, absolute and with symlinks resolved.
    settle_seconds:
        Age (or watched stability) a file needs after its last write and close.
    folder_settle_seconds:
        Quiet a folder without ``capture.json`` needs before it is taken.
    clock:
        Wall-clock seconds, comparable with file mtimes; re-check times (:attr:`due`) and
        the distrust window use ``time.monotonic``.
    """

    def __init__(
        self,
        inbox: Path,
        *,
        settle_seconds: float,
        folder_settle_seconds: float = 120.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.inbox = inbox
        self._settle = settle_seconds
        self._folder_settle = folder_settle_seconds
        self._clock = clock
        self._files: dict[Path, _FileState] = {}
        #: root -> ``time.monotonic()`` when it will have settled and is to be checked again
        self.due: dict[Path, float] = {}
        #: root -> (files, ``clock()`` when it will be taken) of each waiting sidecar-less folder
        self.waiting: dict[Path, tuple[int, float]] = {}
        #: root -> (listing, ``clock()`` when it was first seen) of sidecar-less folders
        self._listings: dict[Path, tuple[Signature, float]] = {}
        self._count_opens_after = 0.0  # time.monotonic(); opens are not counted before it

    def reset(self) -> None:
        """Forget every file and re-check (opens and closes went unseen while stopped)."""
        self._files.clear()
        self.due.clear()
        self.waiting.clear()
        self._listings.clear()

    def prune(self) -> None:
        """Drop what is known about files that no longer exist (after a full rescan)."""
        for path in [p for p in self._files if not os.path.lexists(p)]:
            del self._files[path]
        for table in (self.waiting, self._listings):
            for root in [r for r in table if not os.path.lexists(r)]:
                del table[root]

    def apply(self, event: FileSystemEvent) -> list[Path]:
        """Update the per-file state from one event; return the roots to re-check."""
        roots: list[Path] = []
        src = Path(os.fsdecode(event.src_path)) if event.src_path else None
        if isinstance(event, FileSystemMovedEvent):
            dest = Path(os.fsdecode(event.dest_path)) if event.dest_path else None
            if src is not None:
                self._forget(src)
                roots.extend(self.roots_of([src]))
            if dest is not None and self.root_of(dest) is not None:
                moved_in = walk_files(dest) if event.is_directory else [dest]
                for path in moved_in:
                    self._files[path] = _FileState(moved_in=True)
                roots.extend(self.roots_of([dest]))
            return roots
        if src is None or self.root_of(src) is None:
            return roots
        if isinstance(event, (FileDeletedEvent, DirDeletedEvent)):
            self._forget(src)
        elif isinstance(event, FileOpenedEvent):
            if time.monotonic() >= self._count_opens_after:
                self._state(src).opens += 1
        elif isinstance(event, FileClosedNoWriteEvent):
            state = self._state(src)
            state.opens = max(0, state.opens - 1)
        elif isinstance(event, FileClosedEvent):
            # Not "complete": the writer may open it again (see the inbox rules).
            self._state(src).opens = 0
        elif isinstance(event, FileModifiedEvent):
            state = self._state(src)
            state.moved_in = False
            if time.monotonic() >= self._count_opens_after:
                state.opens = max(1, state.opens)
        return self.roots_of([src])

    def distrust(self, seconds: float) -> None:
        """After an overflow: what events told us misses lost ones, and late ones may be stale.

        Every file falls back to the settle rule, and opens are not counted for ``seconds``.
        """
        for state in self._files.values():
            state.opens = 0
            state.moved_in = False  # a rewrite may have been lost too: back to the settle rule
        self._count_opens_after = time.monotonic() + seconds

    def candidate(self, root: Path) -> tuple[Candidate, Signature] | None:
        """The candidate at ``root`` if it is complete now; else None (maybe re-check later).

        Raises
        ------
        OSError
            ``root`` cannot be read (e.g. a folder copied in without read permission).
        """
        self.due.pop(root, None)
        self.waiting.pop(root, None)
        try:
            st = root.lstat()
        except FileNotFoundError:
            return None
        if stat.S_ISREG(st.st_mode):
            if not self._settled(root, root, st):
                return None
            return Candidate(root, (root,), False), ((root.name, st.st_size, st.st_mtime_ns),)
        if not stat.S_ISDIR(st.st_mode):
            return None
        marker = root / SIDECAR_NAME
        try:
            marker_st = marker.lstat()
        except FileNotFoundError:
            return self._quiet_folder(root)
        self._listings.pop(root, None)
        if not stat.S_ISREG(marker_st.st_mode) or not self._settled(root, marker, marker_st):
            return None
        listed = self._listing(root)
        if listed is None:
            return None
        files, signature, _ = listed
        return Candidate(root, files, True), signature

    def _listing(self, root: Path) -> tuple[tuple[Path, ...], Signature, int] | None:
        """The files of a folder, its signature and its newest mtime (files and folders).

        None while a writer the watcher saw holds one of its files (its close brings us
        back), or while it changes under us (the event for it brings us back).
        """
        files = sorted(walk_files(root))
        signature: list[tuple[str, int, int]] = []
        newest = 0
        for folder in {root, *(path.parent for path in files)}:
            try:
                newest = max(newest, folder.lstat().st_mtime_ns)
            except FileNotFoundError:
                return None
        for path in files:
            state = self._files.get(path)
            if state is not None and state.opens > 0:
                return None
            try:
                file_st = path.lstat()
            except FileNotFoundError:
                return None
            newest = max(newest, file_st.st_mtime_ns)
            signature.append((str(path.relative_to(root)), file_st.st_size, file_st.st_mtime_ns))
        return tuple(files), tuple(signature), newest

    def _quiet_folder(self, root: Path) -> tuple[Candidate, Signature] | None:
        """A folder without ``capture.json``, if it has been quiet long enough (module doc)."""
        now = self._clock()
        listed = self._listing(root)
        if listed is None:  # held open by a writer, or changing: not quiet at all
            count = len(walk_files(root))
            if count:
                self.waiting[root] = (count, now + self._folder_settle)
            return None
        files, signature, newest = listed
        if not files:
            self._listings.pop(root, None)
            return None
        seen = self._listings.get(root)
        if seen is None or seen[0] != signature:
            seen = self._listings[root] = (signature, now)
        quiet = max(now - newest / 1e9, now - seen[1])
        if quiet >= self._folder_settle:
            note = f"no {SIDECAR_NAME}: taken after {self._folder_settle:g} s of quiet"
            return Candidate(root, files, True, note=note), signature
        remaining = self._folder_settle - quiet
        self.waiting[root] = (len(files), now + remaining)
        self.due[root] = time.monotonic() + remaining + 0.01
        return None

    def root_of(self, path: Path) -> Path | None:
        """The candidate root ``path`` belongs to; None outside the inbox or if ignored."""
        try:
            parts = path.relative_to(self.inbox).parts
        except ValueError:
            return None
        if not parts or any(is_ignored_name(part) for part in parts):
            return None
        return self.inbox / parts[0]

    def roots_of(self, paths: Iterable[Path]) -> list[Path]:
        """The candidate roots of ``paths`` (see :meth:`root_of`), skipping the others."""
        return [root for root in map(self.root_of, paths) if root is not None]

    def _settled(self, root: Path, path: Path, st: os.stat_result) -> bool:
        """Whether ``path`` is complete; if it only needs time, schedule a re-check of root."""
        state = self._files.get(path)
        if state is not None and state.opens > 0:
            return False
        if state is not None and state.moved_in:
            return True
        now = self._clock()
        age = now - st.st_mtime_ns / 1e9
        if age >= self._settle:
            return True
        state = self._state(path)
        key = (st.st_size, st.st_mtime_ns)
        if state.stat_key != key:
            state.stat_key, state.stable_since = key, now
        stable = now - state.stable_since
        if stable >= self._settle:
            return True
        wait = self._settle - max(age, stable)
        self.due[root] = time.monotonic() + wait + 0.01
        return False

    def _state(self, path: Path) -> _FileState:
        state = self._files.get(path)
        if state is None:
            state = self._files[path] = _FileState()
        return state

    def _forget(self, path: Path) -> None:
        """Drop the state of ``path`` and, if it was a folder, of everything below it."""
        self._files.pop(path, None)
        prefix = f"{path}{os.sep}"
        for known in [p for p in self._files if str(p).startswith(prefix)]:
            del self._files[known]
