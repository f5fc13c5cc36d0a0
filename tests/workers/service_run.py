"""A real ``panodock run`` for the supervision and free-space tests: start, look, kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis

from workers.queue.broker import redis_client
from workers.service.redis_server import free_port
from workers.state.ledger import Ledger, State


def wait_for(check: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Run:
    """One ``panodock run`` process on ``data`` with its private Redis."""

    def __init__(self, data: Path, **env: str) -> None:
        self.data = data
        self.env = {
            **os.environ,
            "PANODOCK_DATA_DIR": str(data),
            "PANODOCK_WORKERS": "1",
            "PANODOCK_SETTLE_SECONDS": "0.3",
            "PANODOCK_RESCAN_SECONDS": "1",
            "PANODOCK_HEARTBEAT_SECONDS": "3",
            "PANODOCK_SERVE_PORT": str(free_port()),
            "PANODOCK_BLUR": "off",
            "PANODOCK_MIN_FREE_BYTES": "0",
            **env,
        }
        self.env.pop("PANODOCK_REDIS_URL", None)
        self.env.pop("PANODOCK_CONFIG", None)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def inbox(self) -> Path:
        return self.data / "inbox"

    @property
    def socket(self) -> Path:
        return self.data / "redis.sock"

    def start(self) -> Run:
        # Its own process group, so a test can kill the group as a crash would.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "workers.cli.main", "run"], env=self.env, start_new_session=True
        )
        wait_for(lambda: self.roles().get("watcher") and self.redis_up(), 60, "the service")
        return self

    def roles(self) -> dict[str, int]:
        """Role -> pid of the service's live children (``redis``, ``worker 1``, ``watcher``…).

        Read from /proc (not the service's pidfile), so the same test runs against a
        service that keeps none.
        """
        if self.process is None or self.process.poll() is not None:
            return {}
        found: dict[str, list[int]] = {}
        for pid, argv in children(self.process.pid):
            if argv and "redis-server" in argv[0]:
                found.setdefault("redis", []).append(pid)
            elif argv[-1:] in (["worker"], ["watch"], ["serve"]):
                found.setdefault(argv[-1], []).append(pid)
        roles = {"service": self.process.pid}
        for role, key in (("redis", "redis"), ("watcher", "watch"), ("status service", "serve")):
            if found.get(key):
                roles[role] = found[key][-1]
        for n, pid in enumerate(sorted(found.get("worker", []))):
            roles[f"worker {n + 1}"] = pid
        return roles

    def client(self) -> redis.Redis:
        return redis_client(f"unix://{self.socket}")

    def redis_up(self) -> bool:
        try:
            return bool(self.client().ping())
        except (redis.RedisError, OSError):
            return False

    def ledger(self) -> Ledger:
        return Ledger(client=self.client())

    def published(self, n: int) -> bool:
        try:
            return len(self.ledger().in_state(State.PUBLISHED)) >= n
        except (redis.RedisError, OSError):
            return False

    def watcher_health(self) -> list[dict[str, object]]:
        try:
            client = self.client()
            return [
                json.loads(client.get(k) or "{}") for k in client.scan_iter("panodock:watcher:*")
            ]
        except (redis.RedisError, OSError):
            return []

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 90) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout)

    def kill_group(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def children(parent: int) -> list[tuple[int, list[str]]]:
    """(pid, argv) of every live child of ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] not in ("Z", "X"):
            found.append((int(entry.name), [a.decode(errors="replace") for a in argv if a]))
    return found


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def replaced(run: Run, role: str, old: int, timeout: float) -> int:
    """Wait until the pidfile lists ``role`` with another pid than ``old``; return it."""
    return int(
        wait_for(  # type: ignore[arg-type]
            lambda: (pid := run.roles().get(role)) and pid != old and pid_alive(pid) and pid,
            timeout,
            f"{role} to be restarted",
        )
    )
