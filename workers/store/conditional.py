"""Read-modify-write of one object with conditional writes: the store's compare-and-swap.

S3 has no transactions, so every small shared document (``current.json``, ``tour.json``,
``site.json``) is changed the same way: read it with its ETag, compute the new content,
write it only if the ETag is still the same (``If-Match``; ``If-None-Match`` when it did
not exist), and start again if another writer got there first. A little random jitter
keeps writers that collided once from colliding again in lock step.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from config.errors import ObjectNotFound, PreconditionFailed
from workers.store.base import ObjectStore


def update_object(
    store: ObjectStore,
    key: str,
    change: Callable[[bytes | None], bytes | None],
    *,
    attempts: int = 40,
    content_type: str = "application/json",
) -> bytes | None:
    """Apply ``change`` to the object under ``key`` until a conditional write succeeds.

    ``change`` gets the current content (None when there is no object) and returns the new
    content, or None to leave the object as it is; it may be called more than once.
    Returns what the object holds afterwards.

    Raises
    ------
    PreconditionFailed
        The object kept changing under us for every attempt.
    """
    for attempt in range(attempts):
        info = store.head(key)
        try:
            current = store.get(key) if info is not None else None
        except ObjectNotFound:
            continue  # deleted between the two calls
        new = change(current)
        if new is None:
            return current
        try:
            store.put(
                key,
                new,
                content_type=content_type,
                if_match=info.etag if info is not None else None,
                if_none_match=info is None,
            )
            return new
        except PreconditionFailed:
            time.sleep(random.uniform(0, 0.005 * (attempt + 1)))
    raise PreconditionFailed(f"{key} kept changing; gave up after {attempts} tries")
