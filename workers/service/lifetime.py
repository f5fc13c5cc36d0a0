"""Children that die with ``panodock run``, and a pidfile that finds what a crash left.

Two mechanisms, because neither alone covers every way a service dies:

* every child is started with ``prctl(PR_SET_PDEATHSIG)`` (Linux): the kernel signals it
  when the service's main thread dies, even by SIGKILL. The private Redis gets SIGTERM (it
  flushes its AOF and exits); Python children get SIGKILL (their jobs come back through
  the heartbeat, as after any worker crash). The private Redis runs in its own session so
  that a Ctrl-C at the terminal does not stop it under the workers; the death signal
  still ties it to the service.
* ``<data_dir>/panodock.pid`` lists the service and each child (pid and start time), and
  the running service holds an ``flock`` on it. At the next start the lock is free (the
  kernel drops it with the process); any listed process still alive with the same start
  time is a leftover and is stopped — never a refusal that needs a person. A second
  service on the same data dir finds the lock held and is refused.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Final

from config.errors import InfrastructureError

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG: Final = 1
PIDFILE_NAME: Final = "panodock.pid"


def die_with_parent(sig: int) -> Callable[[], None]:
    """A ``preexec_fn`` that makes the child receive ``sig`` when its parent dies.

    The parent's pid is taken now: if the parent died between fork and exec, the child
    exits at once instead of running as an orphan.
    """
    parent = os.getpid()

    def preexec() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        except (OSError, AttributeError):  # not Linux: the pidfile still finds leftovers
            pass
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def start_time(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (``None``: no such process).

    Compared with the recorded one, it tells a leftover child from an unrelated process
    that got the same pid later.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 (the command) may contain spaces and parentheses: split after its last ")".
    fields = stat.rsplit(")", 1)[1].split()
    state = fields[0]
    if state in ("Z", "X"):  # a zombie is dead, it only waits to be reaped
        return None
    return int(fields[19])


class PidFile:
    """The locked pidfile of one running service under ``data_dir`` (module docstring)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / PIDFILE_NAME
        self._file: IO[str] | None = None
        self._children: dict[int, dict[str, object]] = {}

    def acquire(self) -> list[dict[str, object]]:
        """Lock the pidfile and stop what an earlier, dead service left running.

        Returns the leftovers that were stopped (role, pid), for the log and the tests.

        Raises
        ------
        InfrastructureError
            Another ``panodock run`` holds the lock on this data dir.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for the service's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise InfrastructureError(
                    f"panodock is already running on data dir {self.path.parent} (it holds "
                    f"{self.path}); stop it, or give this one another PANODOCK_DATA_DIR"
                ) from exc
            raise
        self._file = handle
        handle.seek(0)
        text = handle.read()
        stopped = stop_leftovers(_parse(text)) if text.strip() else []
        self._children = {}
        self._write()
        return stopped

    def add(self, pid: int, role: str) -> None:
        """Record a started child."""
        self._children[pid] = {"pid": pid, "role": role, "start": start_time(pid)}
        self._write()

    def remove(self, pid: int) -> None:
        """Forget a child that has exited."""
        if self._children.pop(pid, None) is not None:
            self._write()

    def release(self) -> None:
        """Empty the pidfile and drop the lock (a clean stop leaves nothing to clean)."""
        if self._file is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        self._file.close()  # closing drops the flock
        self._file = None

    def _write(self) -> None:
        assert self._file is not None
        body = {
            "service": {"pid": os.getpid(), "start": start_time(os.getpid())},
            "children": list(self._children.values()),
        }
        self._file.seek(0)
        self._file.truncate()
        self._file.write(json.dumps(body))
        self._file.flush()


def _parse(text: str) -> list[dict[str, object]]:
    try:
        body = json.loads(text)
        entries = [body["service"], *body["children"]]
    except (ValueError, KeyError, TypeError):
        log.warning("pidfile is unreadable; ignoring it")
        return []
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("pid"), int)]


def stop_leftovers(
    entries: list[dict[str, object]], *, grace_seconds: float = 3.0
) -> list[dict[str, object]]:
    """SIGTERM every listed process that is still the one recorded, then SIGKILL stragglers."""
    alive = []
    for entry in entries:
        pid = int(entry["pid"])  # type: ignore[call-overload]
        if pid == os.getpid() or start_time(pid) is None or start_time(pid) != entry.get("start"):
            continue
        log.warning(
            "stopping %s (pid %d) left running by an earlier panodock run that did not stop "
            "cleanly",
            entry.get("role", "the service"),
            pid,
        )
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        alive.append(entry)
    pids = [int(e["pid"]) for e in alive]  # type: ignore[call-overload]
    if not _gone(pids, grace_seconds):
        for pid in pids:
            if start_time(pid) is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        _gone(pids, grace_seconds)
    return alive


def _gone(pids: list[int], timeout: float) -> bool:
    """Wait until none of ``pids`` runs any more; False if some still do after ``timeout``."""
    deadline = time.monotonic() + timeout
    while any(start_time(pid) is not None for pid in pids):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True
