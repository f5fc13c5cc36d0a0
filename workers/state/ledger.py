"""The durable ledger: every capture, its files, its state and its history, in Redis.

Redis is the one store the watcher and every worker host share, and panodock runs it with
append-only persistence, so the ledger survives restarts. Keys (namespace ``panodock``)::

    capture:<id>       JSON of a Capture
    history:<id>       list of JSON Events, oldest first
    state:<state>      sorted set of capture ids by time of entering the state
    captures           sorted set of every capture id by creation time
    blob:<sha256>      id of the first capture that brought this file (dedupe)
    seen:<n>           hash "<path>|<size>|<mtime_ns>" -> capture id (skip re-hashing),
                       one per 30-day period n; a fingerprint looked up is carried into
                       the current period, so only files gone for 30-60 days are forgotten
                       (forgetting costs one re-hash, never a second capture)

State changes are optimistic transactions (WATCH/MULTI), so two processes moving the same
capture cannot both win: ``transition(..., expect=...)`` returns None when the capture is
not in an expected state, which is how "published exactly once" is enforced.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

import redis
from pydantic import BaseModel, Field

from config.errors import PanodockError
from ingest.sidecar import BlurRegion


class CaptureNotFound(PanodockError):
    """No capture in the ledger matches the given id."""


class State(StrEnum):
    """Where a capture is in its life."""

    RECEIVED = "received"
    ARCHIVED = "archived"
    QUEUED = "queued"
    PROCESSING = "processing"
    PUBLISHED = "published"
    FAILED = "failed"
    QUARANTINED = "quarantined"
    #: Rendered and stored under its version prefix, not live: a person approves, rejects
    #: or fixes it (:mod:`workers.ops.review`). Nothing moves it without a person, so it
    #: counts as final for recovery and sweeps, and is listed apart (``panodock review list``).
    REVIEW = "review"


#: States after which nothing happens without a person asking for it (review included).
FINAL = frozenset({State.PUBLISHED, State.FAILED, State.QUARANTINED, State.REVIEW})
#: States of a capture on its way: something will move it on without anyone asking.
UNFINISHED = frozenset({State.RECEIVED, State.ARCHIVED, State.QUEUED, State.PROCESSING})
#: Unfinished states before a job was sent: the intake (or its restart) still has to queue it.
UNQUEUED = frozenset({State.RECEIVED, State.ARCHIVED})
#: Length of a file-fingerprint period (see the module docstring's ``seen:<n>``).
SEEN_PERIOD_SECONDS = 30 * 24 * 3600


class RawFile(BaseModel):
    """One original file of a capture, as archived."""

    name: str
    sha256: str
    size: int
    key: str


class Overrides(BaseModel):
    """What an operator set for a capture's next renders; each enters the scene version."""

    pitch_deg: float | None = Field(None, ge=-90, le=90)
    roll_deg: float | None = Field(None, ge=-180, le=180)
    heading_deg: float | None = Field(None, ge=0, lt=360)
    lens: str | None = Field(None, description="A lens profile name, or 'generic'.")

    def given(self) -> dict[str, object]:
        """The fields that were set (what enters the version hash)."""
        return self.model_dump(exclude_none=True)


class Approval(BaseModel):
    """A person made a held version live: who, when, and what they said."""

    version: str
    by: str
    at: datetime
    note: str | None = None


class Capture(BaseModel):
    """A capture: one scene's worth of original files and where it is in the pipeline."""

    id: str
    state: State = State.RECEIVED
    stage: str | None = None
    reason: str | None = None
    site: str
    scene: str
    source: str = Field(description="Where the watcher found it, for the technician.")
    files: list[RawFile]
    sidecar: str | None = Field(None, description="Name of the capture.json among files.")
    version: str | None = None
    blur_regions: list[BlurRegion] = Field(
        default_factory=list, description="Regions an operator asked to blur (panodock blur)."
    )
    overrides: Overrides = Field(
        default_factory=lambda: Overrides(),
        description="Levelling, heading and lens an operator set (panodock review fix).",
    )
    approvals: list[Approval] = Field(
        default_factory=list, description="Versions a person approved (panodock review approve)."
    )
    attempts: int = 0
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class Event(BaseModel):
    """One line of a capture's history.

    ``kind`` says what the line records: a change of state or stage (``"state"``), a failed
    attempt that dramatiq retries (``"retry"``, with ``attempt`` and ``error``), or a remark
    that changes nothing (``"note"``). Events written before kinds existed read as "state".
    """

    at: datetime
    state: State
    stage: str | None = None
    detail: str | None = None
    kind: Literal["state", "retry", "note"] = "state"
    attempt: int | None = Field(None, description="retry: the number of the attempt that failed.")
    error: str | None = Field(None, description="The exception class of a failure.")
    by: str | None = Field(None, description="The person who asked for it (review actions).")


class Ledger:
    """Capture records in Redis (see module docstring)."""

    def __init__(
        self,
        *,
        client: redis.Redis,
        namespace: str = "panodock",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.ns = namespace
        self.clock = clock  # seconds; the fingerprint periods follow it

    def _k(self, *parts: str) -> str:
        return ":".join((self.ns, *parts))

    # -- creating and reading -------------------------------------------------------------

    def create(self, capture: Capture, *, detail: str | None = None) -> bool:
        """Record a new capture; False (and nothing written) if the id exists already."""
        now = time.time()
        if not self.client.set(self._k("capture", capture.id), capture.model_dump_json(), nx=True):
            return False
        event = Event(at=capture.created_at, state=capture.state, detail=detail)
        pipe = self.client.pipeline()
        pipe.rpush(self._k("history", capture.id), event.model_dump_json())
        pipe.zadd(self._k("captures"), {capture.id: now})
        pipe.zadd(self._k("state", capture.state), {capture.id: now})
        pipe.execute()
        return True

    def get(self, capture_id: str) -> Capture:
        """The capture with exactly this id."""
        raw = self.client.get(self._k("capture", capture_id))
        if raw is None:
            raise CaptureNotFound(f"no capture {capture_id} in the ledger")
        return Capture.model_validate_json(raw)

    def find(self, id_or_prefix: str) -> Capture:
        """The capture whose id is, or starts with, the argument (as `git` does with hashes)."""
        try:
            return self.get(id_or_prefix)
        except CaptureNotFound:
            pass
        matches = [
            cid
            for cid in self.client.zrange(self._k("captures"), 0, -1)
            if as_text(cid).startswith(id_or_prefix)
        ]
        if len(matches) == 1:
            return self.get(as_text(matches[0]))
        if not matches:
            raise CaptureNotFound(f"no capture {id_or_prefix} in the ledger")
        raise CaptureNotFound(f"{id_or_prefix} is ambiguous: {len(matches)} captures start so")

    def history(self, capture_id: str) -> list[Event]:
        """Every event of a capture, oldest first."""
        rows = self.client.lrange(self._k("history", capture_id), 0, -1)
        return [Event.model_validate_json(r) for r in rows]

    def in_state(
        self, state: State, *, limit: int = 50, newest_first: bool = True
    ) -> list[Capture]:
        """Captures currently in ``state``."""
        key = self._k("state", state)
        ids = (
            self.client.zrevrange(key, 0, limit - 1)
            if newest_first
            else self.client.zrange(key, 0, limit - 1)
        )
        return [self.get(as_text(i)) for i in ids]

    def counts(self) -> dict[State, int]:
        """How many captures are in each state."""
        pipe = self.client.pipeline()
        for state in State:
            pipe.zcard(self._k("state", state))
        return dict(zip(State, pipe.execute(), strict=True))

    # -- changing -------------------------------------------------------------------------

    def transition(
        self,
        capture_id: str,
        state: State,
        *,
        stage: str | None = None,
        reason: str | None = None,
        detail: str | None = None,
        expect: Iterable[State] | None = None,
        error: str | None = None,
        by: str | None = None,
        **changes: object,
    ) -> Capture | None:
        """Move a capture to ``state`` and append the event to its history.

        ``detail`` (default: the reason) is the event's text; ``error`` names the exception
        class of a failure; ``by`` names the person who asked. Returns the updated capture,
        or None when ``expect`` is given and the capture is in none of those states
        (another process got there first).
        """
        allowed = None if expect is None else frozenset(expect)
        key = self._k("capture", capture_id)
        while True:
            with self.client.pipeline() as pipe:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    if raw is None:
                        raise CaptureNotFound(f"no capture {capture_id} in the ledger")
                    capture = Capture.model_validate_json(raw)
                    if allowed is not None and capture.state not in allowed:
                        return None
                    previous = capture.state
                    now = datetime.now(UTC)
                    updated = capture.model_copy(
                        update={
                            "state": state,
                            "stage": stage,
                            "reason": reason,
                            "updated_at": now,
                            **changes,
                        }
                    )
                    event = Event(
                        at=now, state=state, stage=stage, detail=detail or reason, error=error,
                        by=by,
                    )
                    pipe.multi()
                    pipe.set(key, updated.model_dump_json())
                    pipe.rpush(self._k("history", capture_id), event.model_dump_json())
                    if previous != state:
                        pipe.zrem(self._k("state", previous), capture_id)
                        pipe.zadd(self._k("state", state), {capture_id: now.timestamp()})
                    pipe.execute()
                    return updated
                except redis.WatchError:
                    continue

    def note(self, capture_id: str, detail: str, *, by: str | None = None) -> None:
        """Add a line to a capture's history without changing its state."""
        self._append(capture_id, kind="note", detail=detail, by=by)

    def note_retry(self, capture_id: str, *, attempt: int, error: str, detail: str) -> None:
        """Record that attempt ``attempt`` failed with ``error`` (a class name) and is retried."""
        self._append(capture_id, kind="retry", detail=detail, attempt=attempt, error=error)

    def _append(self, capture_id: str, **fields: Any) -> None:
        capture = self.get(capture_id)
        event = Event(at=datetime.now(UTC), state=capture.state, stage=capture.stage, **fields)
        self.client.rpush(self._k("history", capture_id), event.model_dump_json())

    # -- dedupe ---------------------------------------------------------------------------

    def claim_blob(self, sha256: str, capture_id: str) -> str:
        """Record that ``capture_id`` brought this file; returns the first capture that did."""
        key = self._k("blob", sha256)
        self.client.set(key, capture_id, nx=True)
        owner = self.client.get(key)
        return as_text(owner) if owner else capture_id

    def seen(self, fingerprint: str) -> str | None:
        """Capture id recorded for a file fingerprint (path, size, mtime), if any."""
        period = self._seen_period()
        current = self._k("seen", str(period))
        # Then the previous period's hash, and the one unbounded hash of older releases
        # (left to expire two periods after this release first runs).
        legacy = self._k("seen")
        if self.client.ttl(legacy) == -1:  # exists without an expiry (EXPIRE NX is Redis 7)
            self.client.expire(legacy, 2 * SEEN_PERIOD_SECONDS)
        for key in (current, self._k("seen", str(period - 1)), legacy):
            value = self.client.hget(key, fingerprint)
            if value:
                if key != current:
                    self.remember(fingerprint, as_text(value))
                return as_text(value)
        return None

    def remember(self, fingerprint: str, capture_id: str) -> None:
        """Record a file fingerprint so a rescan does not hash the file again."""
        key = self._k("seen", str(self._seen_period()))
        pipe = self.client.pipeline()
        pipe.hset(key, fingerprint, capture_id)
        pipe.expire(key, 2 * SEEN_PERIOD_SECONDS)
        pipe.execute()

    def _seen_period(self) -> int:
        return int(self.clock() // SEEN_PERIOD_SECONDS)


def as_text(value: object) -> str:
    """A Redis reply as text, whether the client decodes responses or not."""
    return value.decode() if isinstance(value, bytes) else str(value)
