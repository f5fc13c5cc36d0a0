"""The supervisor of ``panodock run``: restart what dies, give up only when it cannot recover.

It runs on the service's main thread (the death signal of :mod:`workers.service.lifetime`
is tied to the thread that started the child, so every child is started from this one).

Restarts
--------
A child (a worker, the status service, the watcher) that exits while the service runs is
started again after a delay of 1 s, doubling up to 30 s, back to 1 s once it has run for a
minute. Jobs a dead worker held come back through the heartbeat, as with separate workers.
The private Redis is restarted at once on its data (the AOF); the children reconnect (a
child that dies of the outage instead is restarted like any other).

Giving up
---------
When one process dies ``restart_limit`` times within ``restart_window_seconds``, or the
private Redis cannot start again, the supervisor raises
:class:`~config.errors.InfrastructureError` and ``panodock run`` exits non-zero, so that
systemd's ``Restart=on-failure`` (README) starts it afresh.

Stopping
--------
SIGTERM goes to every child at once; all get one ``shutdown_timeout_seconds`` (plus a small
margin) together, then the stragglers are killed, then Redis is stopped.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Final

from config.errors import InfrastructureError
from workers.service.lifetime import PidFile, die_with_parent
from workers.service.redis_server import RedisServer

log = logging.getLogger(__name__)

FIRST_DELAY_SECONDS: Final = 1.0
MAX_DELAY_SECONDS: Final = 30.0
HEALTHY_AFTER_SECONDS: Final = 60.0
STOP_MARGIN_SECONDS: Final = 5.0
_TICK: Final = 0.2


@dataclass(slots=True)
class Child:
    """One supervised process and its restart bookkeeping."""

    role: str  # "worker 1", "status service", "watcher"
    args: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    delay: float = FIRST_DELAY_SECONDS
    restart_at: float | None = None
    deaths: deque[float] = field(default_factory=deque)
    restarts: int = 0


class Supervisor:
    """Start, watch and stop the children of ``panodock run`` (module docstring).

    Parameters
    ----------
    env:
        Environment of every child (the resolved settings as ``PANODOCK_*``).
    pidfile:
        The locked pidfile; every child is recorded there while it runs.
    redis:
        The private Redis, or ``None`` with an external one.
    restart_limit, restart_window_seconds:
        Deaths of one process within the window after which the supervisor gives up.
    shutdown_timeout_seconds:
        What every worker gets, all at once, to finish its jobs on stop.
    """

    def __init__(
        self,
        *,
        env: dict[str, str],
        pidfile: PidFile,
        redis: RedisServer | None,
        restart_limit: int,
        restart_window_seconds: float,
        shutdown_timeout_seconds: float,
    ) -> None:
        self.env = env
        self.pidfile = pidfile
        self.redis = redis
        self.restart_limit = restart_limit
        self.window = restart_window_seconds
        self.shutdown_timeout = shutdown_timeout_seconds
        self.children: list[Child] = []
        self._redis_deaths: deque[float] = deque()

    def add(self, role: str, args: list[str]) -> Child:
        """Start a child now and supervise it."""
        child = Child(role=role, args=args)
        self._spawn(child)
        self.children.append(child)
        return child

    def run(self, stop: threading.Event) -> None:
        """Supervise until ``stop`` is set; raises when a process cannot be kept running."""
        while not stop.wait(_TICK):
            self.check()

    def check(self, now: float | None = None) -> None:
        """One round: restart Redis if it died, note dead children, start due ones."""
        now = time.monotonic() if now is None else now
        self._check_redis(now)
        for child in self.children:
            process = child.process
            if process is not None and process.poll() is not None:
                self._died(child, process, now)
            if child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._spawn(child)
                log.info(
                    "%s restarted (pid %d, restart %d)",
                    child.role,
                    child.process.pid if child.process else -1,
                    child.restarts,
                )

    def stop(self) -> None:
        """Stop every child in parallel (one shutdown timeout for all), then Redis."""
        running = [c.process for c in self.children if c.process and c.process.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.shutdown_timeout + STOP_MARGIN_SECONDS
        for process in running:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error(
                    "process %d did not stop within %.0f s; killing it",
                    process.pid,
                    self.shutdown_timeout + STOP_MARGIN_SECONDS,
                )
                process.kill()
                process.wait()
            self.pidfile.remove(process.pid)
        if self.redis is not None and self.redis.process is not None:
            pid = self.redis.process.pid
            self.redis.stop()
            self.pidfile.remove(pid)

    # -- internals --------------------------------------------------------------------------

    def _spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(
            [sys.executable, "-m", "workers.cli.main", *child.args],
            env=self.env,
            preexec_fn=die_with_parent(signal.SIGKILL),  # noqa: PLW1509 - one thread spawns
        )
        child.started_at = time.monotonic()
        child.restart_at = None
        self.pidfile.add(child.process.pid, child.role)

    def _died(self, child: Child, process: subprocess.Popen[bytes], now: float) -> None:
        child.process = None
        self.pidfile.remove(process.pid)
        if now - child.started_at >= HEALTHY_AFTER_SECONDS:
            child.delay = FIRST_DELAY_SECONDS
        self._count_death(child.deaths, child.role, now)
        log.error(
            "%s (pid %d) exited with %s; restarting it in %.0f s",
            child.role,
            process.pid,
            _describe(process.returncode),
            child.delay,
        )
        child.restart_at = now + child.delay
        child.delay = min(child.delay * 2, MAX_DELAY_SECONDS)

    def _check_redis(self, now: float) -> None:
        redis = self.redis
        if redis is None or redis.process is None or redis.process.poll() is None:
            return
        old = redis.process
        self.pidfile.remove(old.pid)
        self._count_death(self._redis_deaths, "the private Redis", now)
        log.error(
            "the private Redis (pid %d) exited with %s; restarting it on its data",
            old.pid,
            _describe(old.returncode),
        )
        redis.start()  # raises InfrastructureError when it cannot: the service gives up
        assert redis.process is not None
        self.pidfile.add(redis.process.pid, "redis")
        log.info("the private Redis is back (pid %d)", redis.process.pid)

    def _count_death(self, deaths: deque[float], role: str, now: float) -> None:
        deaths.append(now)
        while deaths and deaths[0] < now - self.window:
            deaths.popleft()
        if len(deaths) >= self.restart_limit:
            raise InfrastructureError(
                f"{role} died {len(deaths)} times within {self.window:.0f} s; giving up "
                "(see its errors above; PANODOCK_RESTART_LIMIT and "
                "PANODOCK_RESTART_WINDOW_SECONDS set when to)"
            )


def _describe(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        with contextlib.suppress(ValueError):
            return signal.Signals(-returncode).name
    return f"code {returncode}"
