"""Which worker processes are alive: each one keeps a short-lived key in Redis.

dramatiq's own heartbeat set cannot answer this: every process that talks to the broker
(the watcher enqueueing, ``panodock retry``) writes to it. A worker refreshes
``panodock:worker:<host>:<pid>`` every third of ``ttl``; a worker that dies simply lets it
expire.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from typing import Any

import redis

from workers.state.ledger import as_text

PREFIX = "panodock:worker:"


class Presence:
    """Announces one live worker process until stopped."""

    def __init__(self, *, client: redis.Redis, ttl: float, threads: int) -> None:
        self.client = client
        self.ttl = ttl
        self.key = f"{PREFIX}{socket.gethostname()}:{os.getpid()}"
        self.info = {"host": socket.gethostname(), "pid": os.getpid(), "threads": threads}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="presence", daemon=True)

    def start(self) -> None:
        self._beat()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.ttl)
        try:
            self.client.delete(self.key)
        except redis.RedisError:
            pass  # it expires by itself

    def _beat(self) -> None:
        body = json.dumps({**self.info, "at": time.time()})
        self.client.set(self.key, body, px=int(self.ttl * 1000))

    def _run(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self._beat()
            except redis.RedisError:
                pass  # Redis is down; the worker's own calls will say so loudly


def read_reports(client: redis.Redis, pattern: str) -> list[dict[str, Any]]:
    """The JSON bodies of the short-lived report keys matching ``pattern`` (expired: gone)."""
    out = []
    for key in client.scan_iter(pattern):
        body = client.get(key)
        if body is not None:  # expired between the scan and the read
            out.append(json.loads(as_text(body)))
    return out


def live_workers(client: redis.Redis) -> list[dict[str, Any]]:
    """Every worker process that announced itself within its TTL."""
    reports = read_reports(client, f"{PREFIX}*")
    return sorted(reports, key=lambda w: (str(w["host"]), int(str(w["pid"]))))
