"""The intake gate: the watcher takes new files only while there is room for them.

Checked: free space on every disk the service writes to (the data dir, the local store,
the spool, the inbox; one check per filesystem) against ``min_free_bytes`` and
``min_free_fraction``, and Redis (``used_memory`` near ``maxmemory`` when one is set, and
Redis's own persistence errors — it refuses writes with ``MISCONF`` when its disk is full).
While one fails, the watcher leaves new files in the inbox untouched; the gate logs one
line when it closes and one when it opens again, and the watcher rescans on reopening.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import redis

log = logging.getLogger(__name__)

REDIS_MEMORY_HIGH: Final = 0.95  # of maxmemory: noeviction refuses writes at 100 %
REDIS_DISK_MESSAGE: Final = "Redis cannot write its data (disk full?)"
_RECHECK_SECONDS: Final = 0.5


@dataclass(frozen=True, slots=True)
class Pause:
    """Why intake is paused: ``reason`` is ``disk`` or ``redis``; ``message`` is for people."""

    reason: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message}


def human_bytes(n: float) -> str:
    """``120 MB``, ``2 GB``: decimal units, as df -H and file managers show them."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" or n >= 10 else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def is_misconf(exc: BaseException) -> bool:
    """Whether ``exc`` is Redis refusing writes because it cannot persist (``MISCONF``)."""
    return isinstance(exc, redis.ResponseError) and str(exc).startswith("MISCONF")


def disk_pause(
    disks: dict[str, Path],
    *,
    min_free_bytes: int,
    min_free_fraction: float,
    usage: Callable[[Path], Any] = shutil.disk_usage,
) -> Pause | None:
    """The first disk below its threshold, as a pause (``None``: every disk has room).

    ``disks`` maps a label ("data", "store", …) to a folder; a folder that does not exist
    yet is checked through its nearest existing parent; two labels on one filesystem are
    checked once.
    """
    seen: set[int] = set()
    for label, folder in disks.items():
        path = _existing(folder)
        dev = os.stat(path).st_dev
        if dev in seen:
            continue
        seen.add(dev)
        total, _, free = usage(path)[:3]
        need = max(min_free_bytes, int(total * min_free_fraction))
        if free < need:
            return Pause(
                "disk",
                f"{label} disk {folder} has {human_bytes(free)} free, below "
                f"{human_bytes(need)}: not taking new captures until space is freed",
            )
    return None


def redis_pause(client: redis.Redis) -> Pause | None:
    """Redis near its ``maxmemory``, or failing to persist, as a pause."""
    try:
        memory = client.info("memory")
        persistence = client.info("persistence")
    except redis.RedisError:
        return None  # Redis down is the supervisor's business, not a reason to pause
    if persistence.get("aof_last_write_status", "ok") != "ok" or (
        persistence.get("rdb_last_bgsave_status", "ok") != "ok"
    ):
        return Pause("redis", f"{REDIS_DISK_MESSAGE}: not taking new captures until it can")
    limit = int(memory.get("maxmemory", 0) or 0)
    used = int(memory.get("used_memory", 0) or 0)
    if limit and used >= limit * REDIS_MEMORY_HIGH:
        return Pause(
            "redis",
            f"Redis uses {human_bytes(used)} of its maxmemory {human_bytes(limit)}: not "
            "taking new captures until memory is freed (or maxmemory raised)",
        )
    return None


class IntakeGate:
    """Open while there is room (module docstring); ``is_open`` is the watcher's hook.

    Parameters
    ----------
    disks:
        Label to folder, as for :func:`disk_pause`.
    min_free_bytes, min_free_fraction:
        The thresholds (settings).
    client:
        The service's Redis, or ``None`` to check only the disks.
    on_reopen:
        Called when the gate opens again (the watcher rescans the inbox).
    """

    def __init__(
        self,
        disks: dict[str, Path],
        *,
        min_free_bytes: int,
        min_free_fraction: float,
        client: redis.Redis | None = None,
        on_reopen: Callable[[], None] | None = None,
    ) -> None:
        self.disks = disks
        self.min_free_bytes = min_free_bytes
        self.min_free_fraction = min_free_fraction
        self.client = client
        self.on_reopen = on_reopen
        self._lock = threading.Lock()
        self._pause: Pause | None = None
        self._checked_at = -float("inf")

    @property
    def pause(self) -> Pause | None:
        """The current pause, as of the last check."""
        with self._lock:
            return self._pause

    def is_open(self) -> bool:
        """Whether new files may be taken; re-checks at most twice a second."""
        with self._lock:
            fresh = time.monotonic() - self._checked_at < _RECHECK_SECONDS
            if fresh:
                return self._pause is None
        return self.refresh() is None

    def refresh(self) -> Pause | None:
        """Check now; log and act on a change; return the pause (``None``: open)."""
        pause = disk_pause(
            self.disks,
            min_free_bytes=self.min_free_bytes,
            min_free_fraction=self.min_free_fraction,
        )
        if pause is None and self.client is not None:
            pause = redis_pause(self.client)
        self._set(pause)
        return pause

    def misconf(self) -> None:
        """Close the gate because a Redis write was refused with ``MISCONF``."""
        self._set(Pause("redis", f"{REDIS_DISK_MESSAGE}: not taking new captures until it can"))

    def _set(self, pause: Pause | None) -> None:
        with self._lock:
            before, self._pause = self._pause, pause
            self._checked_at = time.monotonic()
        if pause is not None and (before is None or before.reason != pause.reason):
            log.error("%s", pause.message)
        elif pause is None and before is not None:
            log.info("space is back: taking new captures again")
            if self.on_reopen is not None:
                self.on_reopen()


def _existing(folder: Path) -> Path:
    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
