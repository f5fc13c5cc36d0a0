"""The ``panodock`` command.

Settings are built here, once, and passed down (STYLE.md #4). Exit codes: 0 ok, 1 an
operation failed, 2 bad usage or settings, 3 the service is not reachable.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from config.errors import ConfigError, InfrastructureError, PanodockError
from config.settings import Settings, load_settings
from workers.cli.site import add_site_commands, run_site_command
from workers.state.ledger import Ledger


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
    sub.add_parser(
        "serve", help="run the status service (ops console, scene pages, JSON API, /metrics)"
    )

    status = sub.add_parser("status", help="queue depths, in-flight work, recent failures")
    status.add_argument("capture", nargs="?", help="a capture id (or its first characters)")
    status.add_argument("--watch", action="store_true", help="tables refreshed live until Ctrl-C")
    status.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes")

    retry = sub.add_parser("retry", help="send a failed or quarantined capture through again")
    retry.add_argument("capture", help="a capture id (or its first characters)")

    blur = sub.add_parser(
        "blur", help="blur more regions of a capture's scene and republish it from the original"
    )
    blur.add_argument("capture", help="a capture id (or its first characters)")
    blur.add_argument(
        "--region", action="append", required=True, metavar="YAW,PITCH,WIDTH,HEIGHT",
        help="degrees in the published scene (yaw + right, pitch + up); repeatable",
    )  # fmt: skip

    imp = sub.add_parser("import", help="import every capture in a folder once (progress bar)")
    imp.add_argument("folder", type=Path, help="e.g. a copied SD card or a capture-app export")
    imp.add_argument("--site", help="site of captures whose capture.json names none")

    rep = sub.add_parser("republish-site", help="run every published scene of a site again")
    rep.add_argument("site")
    rep.add_argument("--wait", action="store_true", help="show progress until all are done")

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
    bench.add_argument(
        "--blur", choices=["off", "required"], default="off",
        help="face blurring during the run (default off: the tiling job alone)",
    )  # fmt: skip
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "workers", None) is not None:
        overrides["workers"] = args.workers
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = args.data_dir
    return load_settings(args.config, **overrides)


def _logging(settings: Settings) -> None:
    from workers.ops.logs import setup_logging

    setup_logging(settings.log_level)  # JSON lines unless stderr is a terminal


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
    from workers.service import processes as service

    if args.command == "run":
        service.run_service(settings)
        return 0
    if args.command == "bench":
        from workers.ops.bench import run_bench

        bench_settings = settings.model_copy(update={"blur": args.blur})
        table = run_bench(
            width=args.width, runs=args.runs, settings=bench_settings, source=args.input
        )
        print(table)
        return 0
    if args.command in ("site", "place"):  # the registry and the tour live in the store
        from workers.store.factory import make_store

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
        from workers.http.api import run_api

        run_api(settings, url)
        return 0
    from workers.queue.broker import redis_client

    ledger = Ledger(client=redis_client(url))
    if args.command == "status":
        if args.watch and not args.capture:
            return _watch(settings, url, ledger, interval=args.interval)
        return _status(settings, url, ledger, args.capture)
    if args.command == "retry":
        return _retry(settings, url, ledger, args.capture)
    if args.command == "import":
        return _import(settings, url, args.folder, args.site)
    if args.command == "republish-site":
        return _republish_site(settings, url, args.site, wait=args.wait)
    if args.command == "blur":
        return _blur(settings, url, ledger, args.capture, args.region)
    if args.command in ("dead", "requeue-dead"):
        return _dead(settings, url, ledger, requeue=args.command == "requeue-dead")
    if args.command == "original":
        return _original(settings, ledger, args.capture, args.expires)
    raise AssertionError(args.command)


def _import(settings: Settings, url: str, folder: Path, site: str | None) -> int:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from ingest.intake import Intake
    from workers.ops.bulk import import_folder
    from workers.queue.actors import App
    from workers.store.factory import make_store

    app = App(settings, url)
    store = make_store(settings)
    store.bootstrap()
    intake = Intake(
        store=store, ledger=app.ledger, enqueue=app.enqueue, default_site=settings.default_site
    )
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(f"importing {folder}", total=None)
        ids = import_folder(
            folder,
            intake=intake,
            spool_root=settings.spool_root,
            site=site or settings.default_site,
            on_capture=lambda _: progress.update(
                task,
                advance=1,
                description=f"importing {folder}: {progress.tasks[0].completed + 1:.0f} capture(s)",
            ),
        )
    print(f"{len(ids)} capture(s) from {folder}: {len(set(ids))} distinct, queued unless known")
    return 0


def _republish_site(settings: Settings, url: str, site: str, *, wait: bool) -> int:
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from workers.ops.bulk import republish_site, site_scenes
    from workers.queue.actors import App
    from workers.state.ledger import State
    from workers.store.factory import make_store

    app = App(settings, url)
    store = make_store(settings)
    scenes = site_scenes(store, site)
    if not scenes:
        print(f"site {site} has no published scene", file=sys.stderr)
        return 1
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns) as progress:
        task = progress.add_task(f"queueing {site}", total=len(scenes))
        queued = republish_site(app, store, site, on_scene=lambda _: progress.advance(task))
        if wait and queued:
            done_task = progress.add_task(f"re-publishing {site}", total=len(queued))
            final = {State.PUBLISHED, State.FAILED, State.QUARANTINED}
            while True:
                done = sum(1 for c in queued if app.ledger.get(c.id).state in final)
                progress.update(done_task, completed=done)
                if done == len(queued):
                    break
                time.sleep(0.5)
    print(f"{len(queued)} of {len(scenes)} scene(s) of {site} queued again")
    return 0


def _blur(settings: Settings, url: str, ledger: Ledger, capture_id: str, specs: list[str]) -> int:
    from pydantic import ValidationError

    from ingest.sidecar import BlurRegion
    from workers.queue.actors import App
    from workers.state.ledger import State

    try:
        regions = []
        for spec in specs:
            yaw, pitch, width, height = (float(v) for v in spec.split(","))
            regions.append(
                BlurRegion(yaw_deg=yaw, pitch_deg=pitch, width_deg=width, height_deg=height)
            )
    except (ValueError, ValidationError) as exc:
        print(f"panodock: --region wants YAW,PITCH,WIDTH,HEIGHT in degrees: {exc}", file=sys.stderr)
        return 2
    capture = ledger.find(capture_id)
    moved = ledger.transition(
        capture.id,
        State.QUEUED,
        expect={State.PUBLISHED, State.FAILED, State.QUARANTINED},
        detail=f"{len(regions)} region(s) to blur added by an operator; republishing",
        blur_regions=[*capture.blur_regions, *regions],
    )
    if moved is None:
        print(f"capture {capture.id[:12]} is {capture.state.value}; try again when it is done",
              file=sys.stderr)  # fmt: skip
        return 1
    App(settings, url).enqueue(capture.id)
    print(f"capture {capture.id[:12]} queued: a new version with {len(moved.blur_regions)} "
          "manual region(s) replaces the live one when it is published")  # fmt: skip
    return 0


def _gc(settings: Settings, *, apply: bool, grace_hours: float) -> int:
    from workers.store.factory import make_store
    from workers.store.gc import collect

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
    from workers.http.api import requeue_dead_captures
    from workers.queue.actors import App
    from workers.queue.broker import QUEUE
    from workers.queue.deadletters import dead_jobs

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
    jobs = requeue_dead_captures(app)
    print(f"re-queued {len(jobs)} job(s)")
    return 0


def _original(settings: Settings, ledger: Ledger, capture_id: str, expires: int) -> int:
    from workers.store.factory import make_store

    store = make_store(settings)
    for f in ledger.find(capture_id).files:
        print(f"{f.name}\t{store.presigned_get(f.key, expires_seconds=expires)}")
    return 0


def _status(settings: Settings, url: str, ledger: Ledger, capture: str | None) -> int:
    from workers.ops.status import format_history, format_status, queue_stats, recent_failures
    from workers.queue.broker import QUEUE, redis_client

    if capture:
        print(format_history(ledger, ledger.find(capture)))
        return 0
    stats = queue_stats(redis_client(url), QUEUE, heartbeat_seconds=settings.heartbeat_seconds)
    print(format_status(stats, ledger.counts(), recent_failures(ledger)))
    return 0


def _watch(settings: Settings, url: str, ledger: Ledger, *, interval: float) -> int:
    """``panodock status --watch``: the queue, workers and failures as live tables."""
    import time

    from rich.console import Group
    from rich.live import Live
    from rich.table import Table

    from workers.ops.status import queue_stats, recent_failures, worker_rows
    from workers.queue.broker import QUEUE, redis_client

    client = redis_client(url)

    def frame() -> Group:
        stats = queue_stats(client, QUEUE, heartbeat_seconds=settings.heartbeat_seconds)
        queue = Table(title="queue " + QUEUE)
        for name in ("ready", "delayed", "in flight", "stranded", "dead", "oldest"):
            queue.add_column(name, justify="right")
        oldest = stats.oldest_ready_seconds
        queue.add_row(
            *map(str, (stats.ready, stats.delayed, stats.in_flight, stats.stranded, stats.dead)),
            "-" if oldest is None else f"{oldest:.0f} s",
        )
        workers = Table(title=f"workers ({stats.workers_alive} alive)")
        for name in ("host", "pid", "threads", "beat age"):
            workers.add_column(name)
        for w in worker_rows(client):
            workers.add_row(str(w["host"]), str(w["pid"]), str(w["threads"]),
                            f"{w['beat_age_seconds']:.1f} s")  # fmt: skip
        captures = Table(title="captures")
        counts = ledger.counts()
        for state in counts:
            captures.add_column(state.value, justify="right")
        captures.add_row(*(str(n) for n in counts.values()))
        failures = Table(title="recent failures")
        for name in ("capture", "state", "source", "reason"):
            failures.add_column(name, overflow="fold")
        for c in recent_failures(ledger):
            failures.add_row(c.id[:12], c.state.value, c.source, c.reason or "")
        return Group(queue, workers, captures, failures)

    try:
        with Live(frame(), refresh_per_second=4, screen=False) as live:
            while True:
                time.sleep(interval)
                live.update(frame())
    except KeyboardInterrupt:
        return 0


def _retry(settings: Settings, url: str, ledger: Ledger, capture_id: str) -> int:
    from workers.http.api import retry_capture
    from workers.queue.actors import App

    capture = ledger.find(capture_id)
    if retry_capture(App(settings, url), capture.id) is None:
        print(
            f"capture {capture.id[:12]} is {capture.state.value}; only failed or quarantined "
            "captures can be retried",
            file=sys.stderr,
        )
        return 1
    print(f"capture {capture.id[:12]} queued again")
    return 0


if __name__ == "__main__":
    sys.exit(main())
