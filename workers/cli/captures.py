"""``panodock status|retry|blur|import|republish-site``: captures, one or many, by hand."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from config.settings import Settings
from workers.cli.command import Command, connect

if TYPE_CHECKING:
    import redis
    from rich.console import Group

    from workers.state.ledger import Ledger


class Status(Command):
    """Queue depths and recent failures, one capture's history, or live tables."""

    name = "status"
    help = "queue depths, in-flight work, recent failures"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("capture", nargs="?", help="a capture id (or its first characters)")
        parser.add_argument(
            "--watch", action="store_true", help="tables refreshed live until Ctrl-C"
        )
        parser.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes")

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        url, ledger = connect(settings)
        if args.watch and not args.capture:
            return watch(settings, url, ledger, interval=args.interval)
        return status(settings, url, ledger, args.capture)


def status(settings: Settings, url: str, ledger: Ledger, capture: str | None) -> int:
    """Print one capture's history, or the queue, the capture counts and recent failures."""
    from datetime import UTC, datetime

    from workers.ops.status import (
        activity,
        format_history,
        format_status,
        queue_stats,
        recent_failures,
        watcher_health,
    )
    from workers.queue.broker import QUEUE, redis_client

    if capture:
        print(format_history(ledger, ledger.find(capture)))
        return 0
    stats = queue_stats(redis_client(url), QUEUE, heartbeat_seconds=settings.heartbeat_seconds)
    watchers = watcher_health(ledger.client)
    recent = activity(ledger, now=datetime.now(UTC))
    print(format_status(stats, ledger.counts(), recent_failures(ledger), watchers, recent))
    return 0


def watch(settings: Settings, url: str, ledger: Ledger, *, interval: float) -> int:
    """``panodock status --watch``: the queue, workers and failures as live tables."""
    import time

    from rich.live import Live

    from workers.queue.broker import redis_client

    client = redis_client(url)
    try:
        with Live(_frame(settings, client, ledger), refresh_per_second=4, screen=False) as live:
            while True:
                time.sleep(interval)
                live.update(_frame(settings, client, ledger))
    except KeyboardInterrupt:
        return 0


def _frame(settings: Settings, client: redis.Redis, ledger: Ledger) -> Group:
    from rich.console import Group
    from rich.table import Table

    from workers.ops.status import queue_stats, recent_failures, worker_rows
    from workers.queue.broker import QUEUE

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


class Retry(Command):
    """Send a failed or quarantined capture through the pipeline again."""

    name = "retry"
    help = "send a failed or quarantined capture through again"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("capture", help="a capture id (or its first characters)")
        parser.add_argument(
            "--sidecar", type=Path, metavar="FILE",
            help="a corrected capture.json: archived as part of this capture's history",
        )  # fmt: skip

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        from workers.ops.actions import retry_capture
        from workers.ops.review import audit_cli, cli_user
        from workers.queue.actors import App

        url, ledger = connect(settings)
        capture = ledger.find(args.capture)
        app = App(settings, url)
        sidecar = args.sidecar.read_bytes() if args.sidecar else None
        by = cli_user()
        if retry_capture(app, capture.id, sidecar=sidecar, by=by) is None:
            print(
                f"capture {capture.id[:12]} is {capture.state.value}; only failed or "
                "quarantined captures can be retried",
                file=sys.stderr,
            )
            return 1
        audit_cli(app, by, f"retry {capture.id}" + (" --sidecar" if sidecar else ""))
        print(f"capture {capture.id[:12]} queued again")
        return 0


class Blur(Command):
    """Add manual blur regions to a capture and republish it from its original."""

    name = "blur"
    help = "blur more regions of a capture's scene and republish it from the original"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("capture", help="a capture id (or its first characters)")
        parser.add_argument(
            "--region", action="append", required=True, metavar="YAW,PITCH,WIDTH,HEIGHT",
            help="degrees in the published scene (yaw + right, pitch + up); repeatable",
        )  # fmt: skip

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        url, ledger = connect(settings)
        return blur(settings, url, ledger, args.capture, args.region)


def blur(settings: Settings, url: str, ledger: Ledger, capture_id: str, specs: list[str]) -> int:
    """Queue ``capture_id`` again with the regions ``specs`` (``YAW,PITCH,WIDTH,HEIGHT``).

    Returns 2 when a spec is not four numbers in degrees, 1 when the capture is still on its
    way (only a capture in a final state is republished), else 0.
    """
    from pydantic import ValidationError

    from ingest.sidecar import BlurRegion
    from workers.queue.actors import App
    from workers.state.ledger import FINAL, State

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
        expect=FINAL,
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


class Import(Command):
    """Take every capture of a folder once, as the watcher would, with a progress line."""

    name = "import"
    help = "import every capture in a folder once (progress bar)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "folder", type=Path, help="e.g. a copied SD card or a capture-app export"
        )
        parser.add_argument("--site", help="site of captures whose capture.json names none")

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from ingest.intake import Intake
        from workers.ops.bulk import import_folder
        from workers.queue.actors import App
        from workers.store.factory import make_store

        url, _ = connect(settings)
        folder: Path = args.folder
        app = App(settings, url)
        store = make_store(settings)
        store.bootstrap()
        intake = Intake(
            store=store,
            ledger=app.ledger,
            enqueue=app.enqueue,
            default_site=settings.default_site,
            max_file_bytes=settings.max_file_bytes,
        )
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with Progress(*columns, transient=False) as progress:
            task = progress.add_task(f"importing {folder}", total=None)
            ids = import_folder(
                folder,
                intake=intake,
                spool_root=settings.spool_root,
                site=args.site or settings.default_site,
                on_capture=lambda _: progress.update(
                    task,
                    advance=1,
                    description=f"importing {folder}: "
                    f"{progress.tasks[0].completed + 1:.0f} capture(s)",
                ),
            )
        print(f"{len(ids)} capture(s) from {folder}: {len(set(ids))} distinct, queued unless known")
        return 0


class RepublishSite(Command):
    """Queue every published scene of a site again (after a settings or code change)."""

    name = "republish-site"
    help = "run every published scene of a site again"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("site")
        parser.add_argument("--wait", action="store_true", help="show progress until all are done")

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        import time

        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        from workers.cli.site import stored_name
        from workers.ops.bulk import republish_site, site_scenes
        from workers.queue.actors import App
        from workers.state.ledger import FINAL
        from workers.store.factory import make_store

        try:
            site = stored_name("site", args.site, sys.stdout)
        except ValueError as exc:
            print(f"panodock: {exc}", file=sys.stderr)
            return 2
        url, _ = connect(settings)
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
            if args.wait and queued:
                done_task = progress.add_task(f"re-publishing {site}", total=len(queued))
                while True:
                    done = sum(1 for c in queued if app.ledger.get(c.id).state in FINAL)
                    progress.update(done_task, completed=done)
                    if done == len(queued):
                        break
                    time.sleep(0.5)
        print(f"{len(queued)} of {len(scenes)} scene(s) of {site} queued again")
        return 0


COMMANDS: tuple[Command, ...] = (Status(), Retry(), Blur(), Import(), RepublishSite())
