"""The audit log: every read through a share or key and every action, in a Redis stream.

One stream (``panodock:audit``) for the whole service, so every serving host appends to one
place; entries older than ``PANODOCK_AUDIT_DAYS`` are trimmed with ``MINID`` as new ones
arrive. Requests per share are counted alongside (``panodock:audit:share-requests``) for
``/metrics``. Entries name a share or key by id and label, never by its token.

Tile reads come in bursts of dozens: :class:`AuditWriter` queues entries in memory and
appends them with one pipelined round trip every ``flush_seconds`` (or every
``batch`` entries), so a tile does not wait for Redis.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import datetime, timedelta

import redis
from pydantic import BaseModel

from workers.access.tokens import now

log = logging.getLogger(__name__)

STREAM = "panodock:audit"
SHARE_COUNTS = "panodock:audit:share-requests"
SHARE_LABELS = "panodock:audit:share-labels"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class AuditEntry(BaseModel):
    """One request, as recorded."""

    at: datetime
    kind: str  # "share", "key", "admin" (the bootstrap token)
    id: str
    label: str
    client: str
    method: str
    path: str
    status: int
    bytes: int

    def fields(self) -> dict[str, str]:
        """The stream entry's fields."""
        return {k: str(v) for k, v in self.model_dump(mode="json").items()}


class AuditLog:
    """Appends to and reads the audit stream of one service."""

    def __init__(self, *, client: redis.Redis, days: int) -> None:
        self.client = client
        self.days = days

    def _minid(self) -> str:
        return f"{int((time.time() - self.days * 86400) * 1000)}-0"

    def append(self, entries: list[AuditEntry]) -> None:
        """Append entries in one round trip, trimming what is older than the retention."""
        if not entries:
            return
        pipe = self.client.pipeline(transaction=False)
        minid = self._minid()
        for entry in entries:
            pipe.xadd(STREAM, entry.fields(), minid=minid, approximate=True)  # type: ignore[arg-type]
            if entry.kind == "share":
                pipe.hincrby(SHARE_COUNTS, entry.id, 1)
                pipe.hset(SHARE_LABELS, entry.id, entry.label)
        pipe.execute()

    def read(
        self,
        *,
        share: str | None = None,
        key: str | None = None,
        since: timedelta | None = None,
        limit: int = 10_000,
    ) -> list[AuditEntry]:
        """Entries, oldest first, filtered by share id, key id and age."""
        start = "-" if since is None else f"{int((now() - since).timestamp() * 1000)}-0"
        rows = self.client.xrange(STREAM, min=start, max="+", count=limit)
        out = []
        for _, fields in rows:  # type: ignore[union-attr]
            entry = AuditEntry.model_validate(
                {_text(k): _text(v) for k, v in fields.items()}  # type: ignore[union-attr]
            )
            if share is not None and (entry.kind != "share" or entry.id != share):
                continue
            if key is not None and (entry.kind != "key" or entry.id != key):
                continue
            out.append(entry)
        return out

    def share_counts(self) -> list[tuple[str, str, int]]:
        """(share id, label, requests) for every share that was used."""
        counts = self.client.hgetall(SHARE_COUNTS)
        labels = self.client.hgetall(SHARE_LABELS)
        return sorted(
            (k.decode(), labels.get(k, b"").decode(), int(v))  # type: ignore[union-attr]
            for k, v in counts.items()
        )


class AuditWriter:
    """Buffers entries and appends them from a background thread, in batches."""

    def __init__(self, audit: AuditLog, *, flush_seconds: float = 0.2, batch: int = 500) -> None:
        self.audit = audit
        self.flush_seconds = flush_seconds
        self.batch = batch
        self._queue: queue.Queue[AuditEntry] = queue.Queue()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="panodock-audit", daemon=True)
        self._thread.start()

    def record(self, entry: AuditEntry) -> None:
        """Queue one entry (returns at once)."""
        self._queue.put(entry)

    def flush(self) -> None:
        """Append everything queued so far (tests and shutdown)."""
        with self._lock:
            entries: list[AuditEntry] = []
            while True:
                try:
                    entries.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for start in range(0, len(entries), self.batch):
                try:
                    self.audit.append(entries[start : start + self.batch])
                except redis.RedisError as exc:
                    log.error("audit: %d entries not written, Redis refused: %s", len(entries), exc)

    def _loop(self) -> None:
        while True:
            time.sleep(self.flush_seconds)
            self.flush()
