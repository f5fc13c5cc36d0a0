"""Processes: a worker, and ``panodock run`` — the whole service on one machine.

``panodock run`` starts, in order: the private Redis (unless ``PANODOCK_REDIS_URL`` names
one), N worker processes, the status service, then the watcher, each in its own process.
It stops in the reverse order. Worker processes get the resolved settings through
``PANODOCK_*`` variables, so a flag given to ``run`` reaches them. Redis runs in its own
session so a Ctrl-C at the terminal does not kill it under the workers while they hand
back their jobs.

Shutdown never strands a job: a worker stops taking messages, lets running jobs finish
(up to ``shutdown_timeout_seconds``), and hands prefetched messages back to the queue.
A job still running when a worker dies is redelivered once the worker's heartbeat is
``heartbeat_seconds`` old.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import asdict

import dramatiq

from config.errors import InfrastructureError
from config.settings import Settings, child_environ
from ingest.image import configure_libvips
from ingest.intake import Intake
from ingest.sources.factory import build_sources
from ingest.watcher import InboxWatcher
from workers.contract.keys import schema_key
from workers.contract.schemas import schema_files
from workers.ops.status import publish_watcher_health
from workers.queue.actors import App
from workers.queue.presence import Presence
from workers.service.redis_server import RedisServer
from workers.store.base import ObjectStore
from workers.store.factory import make_store

log = logging.getLogger(__name__)


def resolve_redis_url(settings: Settings) -> str:
    """The Redis to use: the configured one, or the private one of ``panodock run``."""
    if settings.redis_url:
        return settings.redis_url
    sock = settings.data_dir / "redis.sock"
    if not sock.exists():
        raise InfrastructureError(
            f"panodock is not running: no Redis at {sock}. Start it with `panodock run`, "
            "or set PANODOCK_REDIS_URL to an external Redis"
        )
    return f"unix://{sock.resolve()}"


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        log.info("received %s; shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def publish_schemas(store: ObjectStore) -> None:
    """Put the JSON Schemas of scene, tour, site and sidecar under ``schemas/`` (public)."""
    for name, path in sorted(schema_files().items()):
        store.put(schema_key(name), path.read_bytes(), content_type="application/json")


def run_worker(settings: Settings, redis_url: str, stop: threading.Event | None = None) -> None:
    """Run one worker process until SIGINT/SIGTERM (or ``stop`` is set)."""
    stop = stop or _stop_on_signals()
    configure_libvips()
    app = App(settings, redis_url)
    app.pipeline  # noqa: B018 - load the face model now: a bad one stops the worker at start
    app.broker.emit_after("process_boot")  # starts the TimeLimit watchdog
    worker = dramatiq.Worker(app.broker, worker_threads=settings.worker_threads)
    # Prefetch only what the threads can run: a job waiting in one worker's memory is a job
    # another idle worker cannot take, and one more to redeliver if this worker dies.
    worker.queue_prefetch = settings.worker_threads
    worker.start()
    presence = Presence(
        client=app.ledger.client, ttl=settings.heartbeat_seconds, threads=settings.worker_threads
    )
    presence.start()
    log.info("worker %d ready (%d thread(s))", os.getpid(), settings.worker_threads)
    try:
        stop.wait()
    finally:
        worker.stop(timeout=int(settings.shutdown_timeout_seconds * 1000))
        presence.stop()
        app.broker.close()
        log.info("worker %d stopped", os.getpid())


def run_watcher(settings: Settings, redis_url: str, stop: threading.Event | None = None) -> None:
    """Run the inbox watcher until SIGINT/SIGTERM (or ``stop`` is set)."""
    stop = stop or _stop_on_signals()
    app = App(settings, redis_url)
    store = make_store(settings)
    store.bootstrap()
    publish_schemas(store)
    intake = Intake(
        store=store,
        ledger=app.ledger,
        enqueue=app.enqueue,
        default_site=settings.default_site,
    )
    requeued = intake.requeue_unfinished()
    if requeued:
        log.info("queued %d capture(s) left unqueued by an earlier stop", requeued)
    watcher = InboxWatcher(
        settings.inbox_dir,
        intake,
        settle_seconds=settings.settle_seconds,
        rescan_seconds=settings.rescan_seconds,
    )
    watcher.start()
    log.info("watching %s", settings.inbox_dir.resolve())
    sources = build_sources(
        settings.sources,
        deliver=intake,  # the same intake: content dedupe makes two sources one capture
        spool_root=settings.spool_root,
        default_site=settings.default_site,
        settle_seconds=settings.settle_seconds,
        rescan_seconds=settings.rescan_seconds,
        archived=lambda sha256, size: is_archived(store, sha256, size),
    )
    for source in sources:
        source.start()
        log.info("source %s (%s) started", source.name, source.kind)
    name = f"{socket.gethostname()}:{os.getpid()}"
    try:
        # Report health for the status service until stopped (expires if this process dies).
        while not stop.wait(5.0):
            client = app.ledger.client
            publish_watcher_health(client, name, asdict(watcher.health()), ttl_seconds=15)
            for source in sources:
                publish_watcher_health(
                    client, f"source:{source.name}", source.health().as_dict(), ttl_seconds=15
                )
    finally:
        for source in sources:
            source.stop()
        watcher.stop()
        app.broker.close()


def is_archived(store: ObjectStore, sha256: str, size: int) -> bool:
    """Whether an original with this content is in the archive, checked by reading it back.

    A camera may delete a file only once this is true (PTP sources with delete_after_import).
    """
    for key in store.list(f"raw/{sha256}/"):
        data = store.get(key)
        if len(data) == size and hashlib.sha256(data).hexdigest() == sha256:
            return True
    return False


class Service:
    """The embedded service of ``panodock run`` (see module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis: RedisServer | None = None
        self.children: list[subprocess.Popen[bytes]] = []

    def start(self) -> str:
        """Start Redis and every process; returns the Redis URL."""
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        s.inbox_dir.mkdir(parents=True, exist_ok=True)
        if s.redis_url:
            url = s.redis_url
        else:
            self.redis = RedisServer(s.data_dir, binary=s.redis_server)
            url = self.redis.start()
        env = child_environ(s, PANODOCK_REDIS_URL=url)
        for _ in range(s.workers):
            self.children.append(self._spawn(["worker"], env))
        self.children.append(self._spawn(["serve"], env))
        self.children.append(self._spawn(["watch"], env))
        return url

    def _spawn(self, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "workers.cli.main", *args], env=env)

    def wait(self, stop: threading.Event) -> None:
        """Block until ``stop`` is set or a child dies unexpectedly."""
        while not stop.wait(1.0):
            for child in self.children:
                if child.poll() is not None:
                    log.error("process %d exited with %s; stopping", child.pid, child.returncode)
                    return

    def stop(self) -> None:
        """Stop the watcher, then the workers (jobs finish or go back), then Redis."""
        timeout = self.settings.shutdown_timeout_seconds + 10
        for child in reversed(self.children):  # the watcher was started last
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                log.error("process %d did not stop in %.0f s; killing it", child.pid, timeout)
                child.kill()
                child.wait()
        if self.redis is not None:
            self.redis.stop()


def run_service(settings: Settings) -> None:
    """``panodock run``: everything on one machine until Ctrl-C."""
    stop = _stop_on_signals()
    service = Service(settings)
    try:
        url = service.start()
        log.info(
            "panodock running: inbox %s, store %s, redis %s, %d worker(s), status "
            "http://%s:%d/api/status. Ctrl-C stops.",
            settings.inbox_dir.resolve(),
            settings.s3_endpoint or settings.store_root.resolve(),
            url,
            settings.workers,
            settings.serve_host,
            settings.serve_port,
        )
        service.wait(stop)
    finally:
        service.stop()
