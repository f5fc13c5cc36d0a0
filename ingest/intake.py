"""Intake: what happens to a complete candidate the watcher found.

For each file: hash it (sha256), and archive it under ``raw/<sha256>/<name>`` BEFORE
anything else reads it — from the same bytes that were hashed, so the archive is exactly
what the hash names. Then record the capture in the ledger and queue it. The capture id is
a hash of its files' hashes, so the same file (or folder) seen again, under any name or
after a restart, is the same capture and is not processed twice.

Naming: a single file becomes scene ``<file stem>-<id[:8]>`` of the default site (cameras
reuse file names, so the stem alone would collide); a capture folder becomes the scene its
``capture.json`` names, else ``<folder name>-<id[:8]>``, of the site it names.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from config.errors import QuarantineError
from config.names import slug
from ingest.candidates import Candidate
from ingest.sidecar import SIDECAR_NAME, Sidecar, parse_sidecar
from workers.contract.keys import raw_key
from workers.state.ledger import UNQUEUED, Capture, Ledger, RawFile, State
from workers.store.base import ObjectStore, content_type_for

log = logging.getLogger(__name__)


def capture_id_for(shas: list[str]) -> str:
    """The id of the capture made of these files (order does not matter)."""
    return hashlib.sha256("\n".join(sorted(shas)).encode()).hexdigest()[:24]


class Intake:
    """The watcher's callback (see module docstring)."""

    def __init__(
        self,
        *,
        store: ObjectStore,
        ledger: Ledger,
        enqueue: Callable[[str], None],
        default_site: str,
    ) -> None:
        self.store = store
        self.ledger = ledger
        self.enqueue = enqueue
        self.default_site = default_site

    def __call__(self, candidate: Candidate) -> str:
        """Archive, record and queue a candidate; returns its capture id."""
        fingerprint = _fingerprint(candidate)
        known = self.ledger.seen(fingerprint)
        if known is not None:
            return known
        contents = {path: path.read_bytes() for path in candidate.files}
        files = [self._archive(candidate, path, data) for path, data in contents.items()]
        capture_id = capture_id_for([f.sha256 for f in files])
        sidecar, sidecar_error = self._sidecar(candidate, contents)
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
            if existing.state in UNQUEUED:
                self._queue(existing.id)  # a crash came between archiving and queueing
            self.ledger.remember(fingerprint, capture_id)
            return capture_id
        self.ledger.transition(
            capture_id, State.ARCHIVED, detail=f"{len(files)} file(s) archived under raw/"
        )
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

    def requeue_unfinished(self) -> int:
        """Queue captures that were archived but never queued (a crash in between)."""
        count = 0
        for state in sorted(UNQUEUED):
            for capture in self.ledger.in_state(state, limit=10_000):
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

    def _archive(self, candidate: Candidate, path: Path, data: bytes) -> RawFile:
        sha = hashlib.sha256(data).hexdigest()
        name = str(path.relative_to(candidate.root)) if candidate.is_folder else path.name
        key = raw_key(sha, name)
        if not self.store.exists(key):
            self.store.put(key, data, content_type=content_type_for(key))
        return RawFile(name=name, sha256=sha, size=len(data), key=key)

    def _sidecar(
        self, candidate: Candidate, contents: dict[Path, bytes]
    ) -> tuple[Sidecar | None, QuarantineError | None]:
        if not candidate.is_folder or not _has_sidecar(candidate):
            return None, None
        try:
            return parse_sidecar(contents[candidate.root / SIDECAR_NAME]), None
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


def _has_sidecar(candidate: Candidate) -> bool:
    return (candidate.root / SIDECAR_NAME) in candidate.files


def _fingerprint(candidate: Candidate) -> str:
    """Path, size and mtime of every file: unchanged means no need to hash again."""
    parts = []
    for path in candidate.files:
        st = path.stat()
        parts.append(f"{path}|{st.st_size}|{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
