"""The ``panodock`` command.

Settings are built here, once, and passed down (STYLE.md #4). Exit codes: 0 ok, 1 an
operation failed, 2 bad usage or settings, 3 the service is not reachable.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from config.errors import ConfigError, InfrastructureError, PanodockError
from config.settings import Settings, load_settings
from workers.ledger import Ledger
from workers.site_cli import add_site_commands, run_site_command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="panodock",
        description="Capture-to-published-scene pipeline for 360° imagery.",
    )
    parser.add_argument("--config", type=Path, help="TOML settings file (or PANODOCK_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the whole service on this machine (Ctrl-C stops)")
    run.add_argument("--workers", type=int, help="worker processes (PANODOCK_WORKERS)")
    run.add_argument("--data-dir", type=Path, help="data directory (PANODOCK_DATA_DIR)")

    sub.add_parser("worker", help="run one worker process against PANODOCK_REDIS_URL")
    sub.add_parser("watch", help="run the inbox watcher against PANODOCK_REDIS_URL")
    sub.add_parser("serve", help="run the status service (JSON API) against PANODOCK_REDIS_URL")

    status = sub.add_parser("status", help="queue depths, in-flight work, recent failures")
    status.add_argument("capture", nargs="?", help="a capture id (or its first characters)")

    retry = sub.add_parser("retry", help="send a failed or quarantined capture through again")
    retry.add_argument("capture", help="a capture id (or its first characters)")

    sub.add_parser("dead", help="list dead-lettered jobs (retries exhausted)")
    sub.add_parser("requeue-dead", help="put every dead-lettered job back on the queue")

    gc = sub.add_parser("gc", help="remove scene versions no pointer references (dry run)")
    gc.add_argument("--apply", action="store_true", help="delete them (default: only list)")
    gc.add_argument("--grace-hours", type=float, default=24.0, help="keep newer ones (24)")

    original = sub.add_parser("original", help="download URLs of a capture's originals")
    original.add_argument("capture", help="a capture id (or its first characters)")
    original.add_argument("--expires", type=int, default=3600, help="seconds the URL works")

    add_site_commands(sub)

    bench = sub.add_parser("bench", help="time 8192x4096 JPEG -> published tile set")
    bench.add_argument("--width", type=int, default=8192, help="input width (default 8192)")
    bench.add_argument("--runs", type=int, default=3, help="warm runs after the cold one")
    bench.add_argument("--input", type=Path, help="panorama to resize as input (default synthetic)")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "workers", None) is not None:
        overrides["workers"] = args.workers
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = args.data_dir
    return load_settings(args.config, **overrides)


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)-7s %(processName)s[%(process)d] %(name)s: %(message)s",
    )
    for chatty in ("dramatiq", "pyvips"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.root.level))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``panodock`` console command."""
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"panodock: {exc}", file=sys.stderr)
        return 2
    _logging(settings)
    try:
        return _dispatch(args, settings)
    except InfrastructureError as exc:
        print(f"panodock: {exc}", file=sys.stderr)
        return 3
    except PanodockError as exc:
        print(f"panodock: {exc}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    # Imports are local so `panodock --help` stays fast and a broken optional piece does not
    # stop the others.
    from workers import service

    if args.command == "run":
        service.run_service(settings)
        return 0
    if args.command == "bench":
        from workers.bench import run_bench

        print(run_bench(width=args.width, runs=args.runs, settings=settings, source=args.input))
        return 0
    if args.command in ("site", "place"):  # the registry and the tour live in the store
        from workers.app import make_store

        return run_site_command(args, settings, make_store(settings))
    if args.command == "gc":
        return _gc(settings, apply=args.apply, grace_hours=args.grace_hours)
    url = service.resolve_redis_url(settings)
    if args.command == "worker":
        service.run_worker(settings, url)
        return 0
    if args.command == "watch":
        service.run_watcher(settings, url)
        return 0
    if args.command == "serve":
        from workers.api import run_api

        run_api(settings, url)
        return 0
    from workers.app import redis_client

    ledger = Ledger(client=redis_client(url))
    if args.command == "status":
        return _status(settings, url, ledger, args.capture)
    if args.command == "retry":
        return _retry(settings, url, ledger, args.capture)
    if args.command in ("dead", "requeue-dead"):
        return _dead(settings, url, ledger, requeue=args.command == "requeue-dead")
    if args.command == "original":
        return _original(settings, ledger, args.capture, args.expires)
    raise AssertionError(args.command)


def _gc(settings: Settings, *, apply: bool, grace_hours: float) -> int:
    from workers.app import make_store
    from workers.gc import collect

    found = collect(make_store(settings), grace_seconds=grace_hours * 3600, apply=apply)
    verb = "deleted" if apply else "would delete"
    for v in found:
        print(
            f"{verb} scenes/{v.site}/{v.scene}/{v.version}/  {v.objects} objects, "
            f"{v.bytes / 1e6:.1f} MB, unreferenced for {v.age_seconds / 3600:.1f} h"
        )
    total = sum(v.bytes for v in found) / 1e6
    print(
        f"{len(found)} unreferenced version(s), {total:.1f} MB"
        + ("" if apply else "; run with --apply to delete them")
    )
    return 0


def _dead(settings: Settings, url: str, ledger: Ledger, *, requeue: bool) -> int:
    from workers.app import QUEUE, App
    from workers.deadletters import dead_jobs, requeue_dead
    from workers.ledger import State

    app = App(settings, url)
    if not requeue:
        jobs = dead_jobs(app.broker.client, QUEUE)
        for job in jobs:
            print(f"{job.died_at:%Y-%m-%d %H:%M:%S}  {job.actor}{job.args}  {job.last_error}")
        print(
            f"{len(jobs)} dead-lettered job(s)"
            + (" — `panodock requeue-dead` puts them back" if jobs else "")
        )
        return 0
    jobs = requeue_dead(app.broker, QUEUE)
    for job in jobs:
        if job.actor == "process_capture" and job.args:
            ledger.transition(
                str(job.args[0]), State.QUEUED, expect={State.FAILED, State.PROCESSING},
                detail="dead-lettered job re-queued",
            )  # fmt: skip
    print(f"re-queued {len(jobs)} job(s)")
    return 0


def _original(settings: Settings, ledger: Ledger, capture_id: str, expires: int) -> int:
    from workers.app import make_store

    store = make_store(settings)
    for f in ledger.find(capture_id).files:
        print(f"{f.name}\t{store.presigned_get(f.key, expires_seconds=expires)}")
    return 0


def _status(settings: Settings, url: str, ledger: Ledger, capture: str | None) -> int:
    from workers.app import QUEUE, redis_client
    from workers.status import format_history, format_status, queue_stats, recent_failures

    if capture:
        print(format_history(ledger, ledger.find(capture)))
        return 0
    stats = queue_stats(redis_client(url), QUEUE, heartbeat_seconds=settings.heartbeat_seconds)
    print(format_status(stats, ledger.counts(), recent_failures(ledger)))
    return 0


def _retry(settings: Settings, url: str, ledger: Ledger, capture_id: str) -> int:
    from workers.app import App
    from workers.ledger import State

    capture = ledger.find(capture_id)
    moved = ledger.transition(
        capture.id,
        State.QUEUED,
        expect={State.FAILED, State.QUARANTINED},
        detail="retry requested",
    )
    if moved is None:
        print(
            f"capture {capture.id[:12]} is {capture.state.value}; only failed or quarantined "
            "captures can be retried",
            file=sys.stderr,
        )
        return 1
    App(settings, url).enqueue(capture.id)
    print(f"capture {capture.id[:12]} queued again")
    return 0


if __name__ == "__main__":
    sys.exit(main())
