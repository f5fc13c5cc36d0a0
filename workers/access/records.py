"""Credentials stored by the hash of their secret: the one store behind shares and API keys.

Each kind keeps its records in one Redis hash by id (``<records>``) and an index from the
secret's SHA-256 to the id (``<index><sha256>``); the secret itself is never stored. A
revocation rewrites the record and drops the index entry, so the secret stops resolving on
every serving process at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import redis
from pydantic import BaseModel

from workers.access.tokens import digest, now, same_digest

R = TypeVar("R", bound=BaseModel)


class HashedRecords(Generic[R]):
    """Records of one kind (``model``) with their secrets' hashes (see module docstring).

    Parameters
    ----------
    client:
        The service's Redis.
    model:
        The pydantic model of a record: it has ``id``, ``revoked_at`` and ``active()``.
    records, index:
        The hash of records by id, and the prefix of the index keys.
    hash_of:
        The record's stored SHA-256 of its secret.
    not_found:
        The error raised for an unknown id (its message tells what to run).
    """

    def __init__(
        self,
        *,
        client: redis.Redis,
        model: type[R],
        records: str,
        index: str,
        hash_of: Callable[[R], str],
        not_found: Callable[[str], Exception],
    ) -> None:
        self.client = client
        self.model = model
        self.records = records
        self.index = index
        self.hash_of = hash_of
        self.not_found = not_found

    def add(self, record: R) -> None:
        """Store a new record and index its secret's hash."""
        pipe = self.client.pipeline()
        pipe.hset(self.records, _id(record), record.model_dump_json())
        pipe.set(self.index + self.hash_of(record), _id(record))
        pipe.execute()

    def get(self, record_id: str) -> R:
        """The record with that id (revoked or not)."""
        raw = self.client.hget(self.records, record_id)
        if raw is None:
            raise self.not_found(record_id)
        return self.model.model_validate_json(raw)

    def all(self) -> list[R]:
        """Every record, in no order."""
        return [self.model.model_validate_json(v) for v in self.client.hvals(self.records)]

    def revoke(self, record_id: str) -> R:
        """Stop a record now; its secret stops resolving on every serving process."""
        record = self.get(record_id)
        if getattr(record, "revoked_at", None) is None:
            record = record.model_copy(update={"revoked_at": now()})
            pipe = self.client.pipeline()
            pipe.hset(self.records, _id(record), record.model_dump_json())
            pipe.delete(self.index + self.hash_of(record))
            pipe.execute()
        return record

    def resolve(self, secret: str) -> R | None:
        """The active record of a secret, or None (unknown, revoked or expired)."""
        hashed = digest(secret)
        record_id = self.client.get(self.index + hashed)
        if record_id is None:
            return None
        raw = self.client.hget(self.records, record_id)
        if raw is None:
            return None
        record = self.model.model_validate_json(raw)
        if not same_digest(self.hash_of(record), hashed) or not _active(record):
            return None
        return record

    def any(self) -> bool:
        """Whether any record was ever created."""
        return bool(self.client.exists(self.records))


def _id(record: BaseModel) -> str:
    return str(record.id)  # type: ignore[attr-defined]


def _active(record: BaseModel) -> bool:
    return bool(record.active())  # type: ignore[attr-defined]
