"""Processes: a worker, and ``panodock run`` — the whole service on one machine.

``panodock run`` starts, in order: the private Redis (unless ``PANODOCK_REDIS_URL`` names
one), N worker processes, the status service, then the watcher, each in its own process,
and supervises them (:mod:`workers.service.supervisor`: what dies is restarted; children die
with the service and a crashed run's leftovers are cleaned up, :mod:`workers.service.lifetime`).
Worker processes get the resolved settings through ``PANODOCK_*`` variables, so a flag given
to ``run`` reaches them. The watcher pauses intake while a disk or Redis is short of room
(:mod:`workers.service.free_space`).

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
import threading
import time
from dataclasses import asdict

import dramatiq
import redis

from config.errors import InfrastructureError
from config.settings import Settings, child_environ
from ingest.candidates import Candidate
from ingest.image import configure_libvips
from ingest.intake import Intake
from ingest.sources.factory import build_sources
from ingest.watcher import InboxWatcher
from workers.contract.keys import schema_key
from workers.contract.schemas import schema_files
from workers.notify import WEBHOOK_QUEUE
from workers.ops.status import publish_watcher_health
from workers.queue.actors import App
from workers.queue.broker import QUEUE
from workers.queue.presence import Presence
from workers.service.free_space import REDIS_DISK_MESSAGE, IntakeGate, is_misconf
from workers.service.lifetime import PidFile, die_with_parent
from workers.service.redis_server import RedisServer
from workers.service.supervisor import Supervisor
from workers.store.base import ObjectStore
from workers.store.factory import make_store

log = logging.getLogger(__name__)

#: Threads per worker process for webhook deliveries (network waits, not CPU).
WEBHOOK_THREADS = 2

#: Beyond the shutdown timeout, for consumers to return prefetched messages (within the
#: supervisor's margin, :data:`workers.service.supervisor.STOP_MARGIN_SECONDS`).
CONSUMER_STOP_SECONDS = 2.0

HEALTH_SECONDS = 2.0  # how often the watcher reports its health (and re-checks free space)


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
    worker = dramatiq.Worker(app.broker, worker_threads=settings.worker_threads, queues={QUEUE})
    # Prefetch only what the threads can run: a job waiting in one worker's memory is a job
    # another idle worker cannot take, and one more to redeliver if this worker dies.
    worker.queue_prefetch = settings.worker_threads
    worker.start()
    # Webhook deliveries have threads of their own: a slow receiver never holds a capture.
    deliveries = dramatiq.Worker(app.broker, worker_threads=WEBHOOK_THREADS, queues={WEBHOOK_QUEUE})
    deliveries.queue_prefetch = WEBHOOK_THREADS
    deliveries.start()
    presence = Presence(
        client=app.ledger.client, ttl=settings.heartbeat_seconds, threads=settings.worker_threads
    )
    presence.start()
    log.info("worker %d ready (%d thread(s))", os.getpid(), settings.worker_threads)
    try:
        stop.wait()
    finally:
        abandoned = _stop_pools((worker, deliveries), settings.shutdown_timeout_seconds)
        presence.stop()
        app.broker.close()
        log.info("worker %d stopped", os.getpid())
        if abandoned:
            # A job past the timeout is not acknowledged: the heartbeat stops with this
            # process and another worker redelivers it. Leaving through the interpreter's
            # exit would wait on (or abort inside) the native code that job is running.
            log.warning(
                "worker %d left %d job(s) running at shutdown; they will be redelivered",
                os.getpid(),
                abandoned,
            )
            logging.shutdown()
            os._exit(0)


def _stop_pools(pools: tuple[dramatiq.Worker, ...], timeout_seconds: float) -> int:
    """Stop dramatiq workers side by side within one timeout; the jobs still running after it.

    ``Worker.stop`` waits the whole timeout for its job threads and then again for its
    consumers, so pools stopped one after the other would take a multiple of it. The
    consumers get ``CONSUMER_STOP_SECONDS`` beyond the jobs' timeout to hand prefetched
    messages back (they wake once a second).
    """
    deadline = time.monotonic() + timeout_seconds + CONSUMER_STOP_SECONDS
    stoppers = [
        threading.Thread(
            target=pool.stop, kwargs={"timeout": int(timeout_seconds * 1000)}, daemon=True
        )
        for pool in pools
    ]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join(max(0.0, deadline - time.monotonic()))
    return sum(thread.is_alive() for pool in pools for thread in pool.workers)


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
        max_file_bytes=settings.max_file_bytes,
    )
    try:
        requeued = intake.requeue_unfinished()
    except redis.ResponseError as exc:
        if not is_misconf(exc):
            raise
        log.error("%s: captures left unqueued are queued once it can", REDIS_DISK_MESSAGE)
        requeued = 0
    if requeued:
        log.info("queued %d capture(s) left unqueued by an earlier stop", requeued)
    gate = intake_gate(settings, app.ledger.client)

    def take(candidate: Candidate) -> object:
        try:
            return intake(candidate)
        except redis.ResponseError as exc:
            if not is_misconf(exc):
                raise
            gate.misconf()
            raise InfrastructureError(REDIS_DISK_MESSAGE) from exc

    watcher = InboxWatcher(
        settings.inbox_dir,
        take,
        settle_seconds=settings.settle_seconds,
        folder_settle_seconds=settings.folder_settle_seconds,
        rescan_seconds=settings.rescan_seconds,
        accepting=gate.is_open,
    )
    gate.on_reopen = watcher.scan_now
    gate.refresh()
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
        accepting=gate.is_open,
    )
    for source in sources:
        source.start()
        log.info("source %s (%s) started", source.name, source.kind)
    name = f"{socket.gethostname()}:{os.getpid()}"
    try:
        # Report health for the status service until stopped (expires if this process dies).
        while not stop.wait(HEALTH_SECONDS):
            pause = gate.refresh()
            health = {**asdict(watcher.health()), "paused": pause and pause.as_dict()}
            try:
                client = app.ledger.client
                publish_watcher_health(client, name, health, ttl_seconds=15)
                for source in sources:
                    publish_watcher_health(
                        client, f"source:{source.name}", source.health().as_dict(), ttl_seconds=15
                    )
            except redis.RedisError as exc:  # Redis restarting or full: say so, keep watching
                if is_misconf(exc):
                    gate.misconf()
                else:
                    log.warning("cannot report the watcher's health to Redis: %s", exc)
    finally:
        for source in sources:
            source.stop()
        watcher.stop()
        app.broker.close()


def intake_gate(settings: Settings, client: redis.Redis | None) -> IntakeGate:
    """The free-space gate of the watcher: every disk the service writes to, and Redis."""
    disks = {"data": settings.data_dir, "inbox": settings.inbox_dir, "spool": settings.spool_root}
    if not settings.s3_endpoint:
        disks["store"] = settings.store_root
    return IntakeGate(
        disks,
        min_free_bytes=settings.min_free_bytes,
        min_free_fraction=settings.min_free_fraction,
        client=client,
    )


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
        self.pidfile = PidFile(settings.data_dir)
        self.supervisor: Supervisor | None = None

    def start(self) -> str:
        """Lock the data dir, clean up after a crashed run, start Redis and every process."""
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        s.inbox_dir.mkdir(parents=True, exist_ok=True)
        self.pidfile.acquire()  # stops what a crashed run left, or refuses a second service
        if s.redis_url:
            url = s.redis_url
        else:
            # Redis gets SIGTERM when we die: it flushes its AOF and exits.
            self.redis = RedisServer(
                s.data_dir, binary=s.redis_server, preexec_fn=die_with_parent(signal.SIGTERM)
            )
            if self.redis.stop_leftover():
                log.warning("stopped a Redis left running by an earlier panodock run")
            url = self.redis.start()
            assert self.redis.process is not None
            self.pidfile.add(self.redis.process.pid, "redis")
        self.supervisor = Supervisor(
            env=child_environ(s, PANODOCK_REDIS_URL=url),
            pidfile=self.pidfile,
            redis=self.redis,
            restart_limit=s.restart_limit,
            restart_window_seconds=s.restart_window_seconds,
            shutdown_timeout_seconds=s.shutdown_timeout_seconds,
        )
        for n in range(s.workers):
            self.supervisor.add(f"worker {n + 1}", ["worker"])
        self.supervisor.add("status service", ["serve"])
        self.supervisor.add("watcher", ["watch"])
        return url

    def wait(self, stop: threading.Event) -> None:
        """Supervise until ``stop`` is set; raises when the service cannot recover."""
        assert self.supervisor is not None
        self.supervisor.run(stop)

    def stop(self) -> None:
        """Stop every process in parallel (jobs finish or go back), then Redis."""
        try:
            if self.supervisor is not None:
                self.supervisor.stop()
            elif self.redis is not None:
                self.redis.stop()
        finally:
            self.pidfile.release()


def run_service(settings: Settings) -> None:
    """``panodock run``: everything on one machine until Ctrl-C (or SIGTERM).

    Raises
    ------
    InfrastructureError
        A process could not be kept running (``panodock`` exits non-zero, for systemd's
        ``Restart=on-failure``).
    """
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
