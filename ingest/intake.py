"""Intake: what happens to a complete candidate the watcher found.

For each file: check its size by ``stat`` (a file above ``max_file_bytes`` is never read:
the capture is recorded quarantined with a reason naming the file, its size and the limit,
nothing is archived and the file stays in the inbox), hash it (sha256, in 1 MiB reads), and
parse the sidecar. Then record the capture in the ledger, and only then archive each file
under ``raw/<sha256>/<name>`` (a streaming upload), so no object under ``raw/`` is ever
without a capture naming it, even after a crash or a parser failure. A file that changed
between its hash and its upload is not archived under a wrong name: its object is removed
and the candidate is offered again. Then the capture is queued (or quarantined, for a bad
sidecar). The capture id is a hash of its files' hashes, so the same file (or folder) seen
again, under any name or after a restart, is the same capture and is not processed twice;
a capture recorded but not archived yet (a crash in between) is archived when seen again.

Naming: a single file becomes scene ``<file stem>-<id[:8]>`` of the default site (cameras
reuse file names, so the stem alone would collide); a capture folder becomes the scene its
``capture.json`` names, else ``<folder name>-<id[:8]>``, of the site it names.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from config.errors import PanodockError, QuarantineError
from config.names import slug
from ingest.candidates import Candidate
from ingest.files import DEFAULT_MAX_FILE_BYTES, hash_file, too_large_reason
from ingest.sidecar import SIDECAR_NAME, Sidecar, read_sidecar
from workers.contract.keys import raw_key
from workers.state.ledger import UNQUEUED, Capture, Ledger, RawFile, State
from workers.store.base import ObjectStore, content_type_for

log = logging.getLogger(__name__)


def capture_id_for(shas: list[str]) -> str:
    """The id of the capture made of these files (order does not matter)."""
    return hashlib.sha256("\n".join(sorted(shas)).encode()).hexdigest()[:24]


class ChangedWhileReading(PanodockError):
    """An inbox file changed between its hash and its upload; it is offered again later."""


class Intake:
    """The watcher's callback (see module docstring).

    ``max_file_bytes`` is ``PANODOCK_MAX_FILE_BYTES``: larger files are refused unread.
    """

    def __init__(
        self,
        *,
        store: ObjectStore,
        ledger: Ledger,
        enqueue: Callable[[str], None],
        default_site: str,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ) -> None:
        self.store = store
        self.ledger = ledger
        self.enqueue = enqueue
        self.default_site = default_site
        self.max_file_bytes = max_file_bytes

    def __call__(self, candidate: Candidate) -> str:
        """Record, archive and queue a candidate; returns its capture id.

        Raises
        ------
        ChangedWhileReading
            A file changed while it was hashed or archived: offer it again later.
        """
        fingerprint = _fingerprint(candidate)
        known = self.ledger.seen(fingerprint)
        if known is not None:
            return known
        oversized = self._oversized(candidate)
        if oversized:
            return self._refuse(candidate, fingerprint, oversized)
        files = [self._hashed(candidate, path) for path in candidate.files]
        capture_id = capture_id_for([f.sha256 for f in files])
        sidecar, sidecar_error = self._sidecar(candidate)
        site, scene = self._names(candidate, capture_id, sidecar)
        capture = Capture(
            id=capture_id,
            site=site,
            scene=scene,
            source=candidate.origin or str(candidate.root),
            files=files,
            sidecar=SIDECAR_NAME if candidate.is_folder and _has_sidecar(candidate) else None,
        )
        found = f"found {candidate.origin or candidate.root}"
        detail = f"{found}; {candidate.note}" if candidate.note else found
        # The record first: an object under raw/ always has a capture naming it.
        created = self.ledger.create(capture, detail=detail)
        for f in files:
            self.ledger.claim_blob(f.sha256, capture_id)
        if not created:
            existing = self.ledger.get(capture_id)
            where = candidate.origin or str(candidate.root)
            # The same place again is a rescan that had forgotten the file (see
            # Ledger.seen), not news for the capture's history.
            if where != existing.source:
                self.ledger.note(capture_id, f"seen again at {where}; same content, ignored")
            log.info("%s is capture %s again (%s)", candidate.root, capture_id, existing.state)
            if existing.state == State.RECEIVED:  # a crash came before it was archived
                self._archive_all(candidate, capture_id, existing.files)
                self.ledger.transition(
                    capture_id, State.ARCHIVED, expect={State.RECEIVED},
                    detail=f"{len(files)} file(s) archived under raw/ (after a restart)",
                )  # fmt: skip
                existing = self.ledger.get(capture_id)
            if existing.state in UNQUEUED:
                self._queue(existing.id)  # a crash came between archiving and queueing
            self.ledger.remember(fingerprint, capture_id)
            return capture_id
        self._archive_all(candidate, capture_id, files)
        moved = self.ledger.transition(
            capture_id, State.ARCHIVED, expect={State.RECEIVED},
            detail=f"{len(files)} file(s) archived under raw/",
        )  # fmt: skip
        if moved is None:  # another intake saw it meanwhile, archived and queued it
            self.ledger.remember(fingerprint, capture_id)
            return capture_id
        if sidecar_error is not None:
            self.ledger.transition(capture_id, State.QUARANTINED, reason=str(sidecar_error))
        else:
            self._queue(capture_id)
            log.info(
                "capture %s: %s archived and queued as %s/%s",
                capture_id,
                candidate.root,
                site,
                scene,
            )
        self.ledger.remember(fingerprint, capture_id)
        return capture_id

    def _oversized(self, candidate: Candidate) -> list[tuple[str, int]]:
        """(name, size) of every file above the limit, by ``stat``: nothing is read."""
        found = []
        for path in candidate.files:
            size = path.stat().st_size
            if size > self.max_file_bytes:
                found.append((_name(candidate, path), size))
        return found

    def _refuse(
        self, candidate: Candidate, fingerprint: str, oversized: list[tuple[str, int]]
    ) -> str:
        """Record a quarantined capture for files too large to read; archive nothing."""
        # Its id cannot come from hashes (the files are not read): path, size and mtime.
        capture_id = "big-" + fingerprint[:20]
        stem = candidate.root.name if candidate.is_folder else candidate.root.stem
        fallback = slug(candidate.site) if candidate.site else self.default_site
        capture = Capture(
            id=capture_id,
            site=fallback,
            scene=f"{slug(stem) or 'capture'}-{capture_id[4:12]}",
            source=candidate.origin or str(candidate.root),
            files=[],
        )
        reasons = [too_large_reason(name, size, self.max_file_bytes) for name, size in oversized]
        if self.ledger.create(capture, detail=f"found {candidate.origin or candidate.root}"):
            self.ledger.transition(capture_id, State.QUARANTINED, reason="; ".join(reasons))
            log.warning("capture %s: %s", capture_id, reasons[0])
        # Not remembered as seen: under a raised limit, the same file is taken after all.
        return capture_id

    def _hashed(self, candidate: Candidate, path: Path) -> RawFile:
        sha, size = hash_file(path)
        name = _name(candidate, path)
        return RawFile(name=name, sha256=sha, size=size, key=raw_key(sha, name))

    def _archive_all(self, candidate: Candidate, capture_id: str, files: list[RawFile]) -> None:
        """Archive every file of a recorded capture.

        A file that changed since it was hashed ends this capture (quarantined: its content
        is gone from the inbox) and raises ChangedWhileReading: the watcher offers the new
        content again once it settles, as a new capture. Any other error leaves the capture
        received, to be archived when the watcher sees the files again.
        """
        try:
            for f in files:
                path = candidate.root / f.name if candidate.is_folder else candidate.root
                self._archive(path, f)
        except ChangedWhileReading as exc:
            self.ledger.transition(
                capture_id, State.QUARANTINED, expect={State.RECEIVED},
                reason=f"{exc}; the changed file is taken as a new capture once it settles",
            )  # fmt: skip
            raise

    def requeue_unfinished(self) -> int:
        """Queue captures that were archived but never queued (a crash in between).

        A capture recorded but not (fully) archived is left to the watcher: its files are
        still in the inbox, and the start-up rescan archives and queues it.
        """
        count = 0
        for state in sorted(UNQUEUED):
            for capture in self.ledger.in_state(state, limit=10_000):
                if state == State.RECEIVED and not all(
                    self.store.exists(f.key) for f in capture.files
                ):
                    continue
                if self._queue(capture.id):
                    count += 1
        return count

    def _queue(self, capture_id: str) -> bool:
        """Record the capture queued, then send its job; False if another process moved it.

        The ledger first, as every re-queue path does: a worker quick enough to finish the
        job before this returns must find the capture queued, not have its "published"
        overwritten. If sending fails, the capture goes back to archived for
        :meth:`requeue_unfinished` (when the ledger can still be written).
        """
        if self.ledger.transition(capture_id, State.QUEUED, expect=UNQUEUED) is None:
            log.info("capture %s was queued by another process already", capture_id)
            return False
        try:
            self.enqueue(capture_id)
        except BaseException:
            self.ledger.transition(
                capture_id, State.ARCHIVED, expect={State.QUEUED},
                detail="sending the job failed; queued again when the watcher restarts",
            )  # fmt: skip
            raise
        return True

    def _archive(self, path: Path, file: RawFile) -> None:
        """Upload ``path`` as ``file.key`` (streamed), unless that object exists already.

        The hash was taken on an earlier read: if the file changed since (its size, or its
        size or mtime during the upload), the object is removed and ChangedWhileReading
        raised, so ``raw/<sha256>/`` never holds other bytes than its hash names.
        """
        if self.store.exists(file.key):
            return
        before = path.stat()
        if before.st_size != file.size:
            raise ChangedWhileReading(f"{path} changed while it was hashed; offered again later")
        self.store.put_file(file.key, path, content_type=content_type_for(file.key))
        after = path.stat()
        if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
            self.store.delete(file.key)
            raise ChangedWhileReading(f"{path} changed while it was archived; offered again later")

    def _sidecar(self, candidate: Candidate) -> tuple[Sidecar | None, QuarantineError | None]:
        if not candidate.is_folder or not _has_sidecar(candidate):
            return None, None
        try:
            return read_sidecar(candidate.root / SIDECAR_NAME), None
        except QuarantineError as exc:
            return None, exc

    def _names(
        self, candidate: Candidate, capture_id: str, sidecar: Sidecar | None
    ) -> tuple[str, str]:
        fallback = slug(candidate.site) if candidate.site else self.default_site
        site = slug(sidecar.site) if sidecar and sidecar.site else fallback
        if sidecar is not None and sidecar.scene:
            return site, slug(sidecar.scene)
        stem = candidate.root.name if candidate.is_folder else candidate.root.stem
        return site, f"{slug(stem)}-{capture_id[:8]}"


def _name(candidate: Candidate, path: Path) -> str:
    return str(path.relative_to(candidate.root)) if candidate.is_folder else path.name


def _has_sidecar(candidate: Candidate) -> bool:
    return (candidate.root / SIDECAR_NAME) in candidate.files


def _fingerprint(candidate: Candidate) -> str:
    """Path, size and mtime of every file: unchanged means no need to hash again."""
    parts = []
    for path in candidate.files:
        st = path.stat()
        parts.append(f"{path}|{st.st_size}|{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
