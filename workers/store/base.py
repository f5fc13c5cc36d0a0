"""The object-store interface every backend implements."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a HEAD request tells about an object."""

    key: str
    size: int
    etag: str
    modified: float | None = None  # POSIX time of the last write, where the backend knows


class ObjectStore(Protocol):
    """A bucket. Keys are '/'-separated; writes of one object are atomic.

    ``put`` with ``if_match`` writes only when the current object has that ETag, and with
    ``if_none_match`` only when no object exists; otherwise it raises
    :class:`config.errors.PreconditionFailed`. Missing objects raise
    :class:`config.errors.ObjectNotFound`.
    """

    def bootstrap(self) -> None:
        """Make the store ready (create the bucket and its policy); safe to repeat."""
        ...

    def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        """Store ``data`` under ``key``; returns the new ETag."""
        ...

    def put_file(
        self, key: str, path: Path, *, content_type: str = "application/octet-stream"
    ) -> str:
        """Store a file's content under ``key``, streamed (never read whole); returns the ETag."""
        ...

    def get(self, key: str) -> bytes:
        """The object's content."""
        ...

    def get_head(self, key: str, size: int) -> bytes:
        """The first ``size`` bytes of the object (all of it when it is shorter)."""
        ...

    def get_file(self, key: str, path: Path) -> int:
        """Stream the object's content into the file ``path`` (replaced); returns its size.

        Memory stays bounded whatever the object's size: use it for originals.
        """
        ...

    def head(self, key: str) -> ObjectInfo | None:
        """Size and ETag, or None when there is no such object."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key`` (cheaper than head)."""
        ...

    def list(self, prefix: str) -> Iterator[str]:
        """Keys under ``prefix``, sorted."""
        ...

    def list_info(self, prefix: str) -> Iterator[ObjectInfo]:
        """Size, ETag and time of every object under ``prefix``, sorted by key."""
        ...

    def presigned_get(self, key: str, *, expires_seconds: int = 3600) -> str:
        """A URL that downloads the object without credentials, for a while."""
        ...

    def delete(self, key: str) -> None:
        """Remove an object; removing a missing object is not an error."""
        ...


def content_type_for(key: str) -> str:
    """The Content-Type viewers expect for a published key."""
    if key.endswith(".jpg") or key.endswith(".jpeg"):
        return "image/jpeg"
    if key.endswith(".json"):
        return "application/json"
    if key.endswith(".png"):
        return "image/png"
    return "application/octet-stream"
