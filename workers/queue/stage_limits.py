"""A time limit per pipeline stage, with the stage named in the failure.

dramatiq's TimeLimit bounds a whole job; this bounds each stage (decoding a huge file,
tiling, uploading to a slow store). One watchdog thread per process checks twice a second
and raises :class:`StageTimeout` in a thread whose stage ran past its limit, the way
dramatiq's TimeLimit does (an asynchronous exception: it cannot interrupt one long C call,
so it lands when that call returns). :meth:`StageClock.run` turns it into a message that
names the stage and its limit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from dramatiq.threading import raise_thread_exception

from config.errors import StageTimeout

T = TypeVar("T")


class StageClock:
    """Deadlines of the stages running in this process, one per thread."""

    def __init__(self, limits: Mapping[str, float], *, default: float, tick: float = 0.5):
        self.limits = dict(limits)
        self.default = default
        self.tick = tick
        self._running: dict[int, tuple[str, float, float]] = {}  # thread -> stage, limit, end
        self._lock = threading.Lock()
        self._watchdog: threading.Thread | None = None

    def limit(self, stage: str) -> float:
        return self.limits.get(stage, self.default)

    def enter(self, stage: str) -> None:
        """The calling thread starts ``stage`` now (ending the stage it was in)."""
        limit = self.limit(stage)
        with self._lock:
            self._running[threading.get_ident()] = (stage, limit, time.monotonic() + limit)
            if self._watchdog is None:
                self._watchdog = threading.Thread(
                    target=self._watch, name="stage-clock", daemon=True
                )
                self._watchdog.start()

    def leave(self) -> None:
        """The calling thread is done with its stages."""
        with self._lock:
            self._running.pop(threading.get_ident(), None)

    def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (which calls :meth:`enter`), naming the stage if its time runs out."""
        try:
            return fn()
        except StageTimeout:
            with self._lock:
                stage, limit, _ = self._running.get(threading.get_ident(), ("?", 0.0, 0.0))
            raise StageTimeout(
                f"stage {stage} ran past its time limit of {limit:g} s; the job will be retried"
            ) from None
        finally:
            self.leave()

    def _watch(self) -> None:
        while True:
            time.sleep(self.tick)
            now = time.monotonic()
            with self._lock:
                for thread_id, (stage, limit, end) in list(self._running.items()):
                    if now > end:
                        # Pushed far ahead so it fires once; run() reads stage and limit.
                        self._running[thread_id] = (stage, limit, float("inf"))
                        raise_thread_exception(thread_id, StageTimeout)
