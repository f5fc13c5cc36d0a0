"""``panodock run|worker|watch|serve``: the processes of the service."""

from __future__ import annotations

import argparse
from pathlib import Path

from config.settings import Settings
from workers.cli.command import Command, redis_url


class Run(Command):
    """The whole service on this machine: Redis, workers, the status service, the watcher."""

    name = "run"
    help = "run the whole service on this machine (Ctrl-C stops)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        # main() turns these two into settings overrides (they are settings, not options).
        parser.add_argument("--workers", type=int, help="worker processes (PANODOCK_WORKERS)")
        parser.add_argument("--data-dir", type=Path, help="data directory (PANODOCK_DATA_DIR)")

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        from workers.service.processes import run_service

        run_service(settings)
        return 0


class Worker(Command):
    """One worker process."""

    name = "worker"
    help = "run one worker process against PANODOCK_REDIS_URL"

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        url = redis_url(settings)
        from workers.service.processes import run_worker

        run_worker(settings, url)
        return 0


class Watch(Command):
    """The inbox watcher and the capture sources."""

    name = "watch"
    help = "run the inbox watcher against PANODOCK_REDIS_URL"

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        url = redis_url(settings)
        from workers.service.processes import run_watcher

        run_watcher(settings, url)
        return 0


class Serve(Command):
    """The HTTP status service."""

    name = "serve"
    help = "run the status service (ops console, scene pages, JSON API, /metrics)"

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        url = redis_url(settings)
        from workers.http.api import run_api

        run_api(settings, url)
        return 0


COMMANDS: tuple[Command, ...] = (Run(), Worker(), Watch(), Serve())
