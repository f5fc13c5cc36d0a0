"""A time limit per pipeline stage, with the stage named in the failure.

dramatiq's TimeLimit bounds a whole job; this bounds each stage (decoding a huge file,
tiling, uploading to a slow store). One watchdog thread per process checks twice a second
and raises :class:`StageTimeout` in a thread whose stage ran past its limit, the way
dramatiq's TimeLimit does (an asynchronous exception: it cannot interrupt one long C call,
so it lands when that call returns).

The pieces: the pipeline's runner calls :meth:`StageClock.enter` as it records each stage;
the :class:`StageLimits` middleware starts and ends the clock around every message a
worker thread processes; :meth:`StageClock.named` turns the bare exception into one that
names the stage and its limit (:meth:`StageClock.run` does all three for a plain call).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware
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
        self._fired: dict[int, tuple[str, float]] = {}  # thread -> stage and limit it ran past
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

    def start(self) -> None:
        """The calling thread starts a job: no stage yet, and no timeout of an earlier one."""
        with self._lock:
            self._running.pop(threading.get_ident(), None)
            self._fired.pop(threading.get_ident(), None)

    def named(self, exc: BaseException) -> BaseException:
        """``exc``, or for the watchdog's bare StageTimeout one that names the stage."""
        if not isinstance(exc, StageTimeout) or exc.args:
            return exc
        with self._lock:
            stage, limit = self._fired.pop(threading.get_ident(), ("?", 0.0))
        return StageTimeout(
            f"stage {stage} ran past its time limit of {limit:g} s; the job will be retried"
        )

    def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (which calls :meth:`enter`) as one job, naming a stage that times out."""
        self.start()
        try:
            return fn()
        except StageTimeout as exc:
            raise self.named(exc) from None
        finally:
            self.leave()

    def _watch(self) -> None:
        while True:
            time.sleep(self.tick)
            now = time.monotonic()
            with self._lock:
                for thread_id, (stage, limit, end) in list(self._running.items()):
                    if now > end:
                        # Pushed far ahead so it fires once; named() reads stage and limit.
                        self._running[thread_id] = (stage, limit, float("inf"))
                        self._fired[thread_id] = (stage, limit)
                        raise_thread_exception(thread_id, StageTimeout)


class StageLimits(Middleware):
    """Starts and ends a worker thread's :class:`StageClock` around every message."""

    def __init__(self, clock: StageClock) -> None:
        self.clock = clock

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self.clock.start()

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        self.clock.leave()

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self.clock.leave()
