"""Memory a worker gives back: after every job, and all its caches once it is idle.

A warm worker keeps remap maps (cube faces: 66 MB for an 8K scene, :mod:`tiling.mirror`;
detector views, dual-fisheye maps) so that the next scene of the same size skips building
them, and
glibc keeps the pages of freed temporaries in its heap. Both are right during a campus
day's stream of captures and wrong for a host that then sits idle holding its last job's
peak. So:

- after every job, :func:`trim_heap` returns the heap's free pages to the system
  (``malloc_trim``; a few milliseconds);
- once no job has run for ``idle_seconds`` (``PANODOCK_WORKER_IDLE_RELEASE_SECONDS``),
  :class:`IdleRelease` calls ``release`` (the pipeline drops its caches), collects garbage
  and trims again. The next job rebuilds what it needs.

Measured on the 8K sample with blurring (tests/workers/test_worker_memory.py, which
asserts issue 16's 300 MB): a worker that held ~310 MB after the job returns to 241-257 MB
idle, about the size of the loaded code, libraries and face model.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache

log = logging.getLogger(__name__)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None on a C library without it (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def trim_heap() -> None:
    """Return the C heap's free pages to the system, where the C library can."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class IdleRelease:
    """Wraps each job (:meth:`job`); releases caches after ``idle_seconds`` without one.

    Thread-safe: several worker threads may run jobs at once; the release waits until none
    runs and the last ended ``idle_seconds`` ago. ``idle_seconds`` 0 releases after every
    job.
    """

    def __init__(
        self,
        release: Callable[[], None],
        *,
        idle_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if idle_seconds < 0:
            raise ValueError(f"idle_seconds must be >= 0, got {idle_seconds}")
        self._release = release
        self._idle = idle_seconds
        self._clock = clock
        self._cond = threading.Condition()
        self._running = 0
        self._ended_at: float | None = None  # the last job's end, until released
        self._thread: threading.Thread | None = None
        self.releases = 0  # how many times the caches were dropped (for tests and logs)

    @contextmanager
    def job(self) -> Iterator[None]:
        """Around one job: counts it as running; trims the heap when it ends."""
        with self._cond:
            self._running += 1
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._ended_at = self._clock()
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._watch, name="panodock-idle-release", daemon=True
                    )
                    self._thread.start()
                self._cond.notify_all()
            trim_heap()

    def _watch(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._running == 0 and self._ended_at is not None:
                        wait = self._ended_at + self._idle - self._clock()
                        if wait <= 0:
                            self._ended_at = None
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
            try:
                self._release()
            except Exception:  # a cache that cannot be dropped must not kill the worker
                log.exception("dropping the worker's caches failed")
            gc.collect()
            trim_heap()
            self.releases += 1
            log.debug("idle: caches dropped and the heap trimmed")
