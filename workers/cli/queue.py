"""``panodock dead|requeue-dead``: jobs whose retries ran out."""

from __future__ import annotations

import argparse

from config.settings import Settings
from workers.cli.command import Command, redis_url


class Dead(Command):
    """List the dead-lettered jobs."""

    name = "dead"
    help = "list dead-lettered jobs (retries exhausted)"

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        from workers.queue.actors import App
        from workers.queue.broker import QUEUE
        from workers.queue.deadletters import dead_jobs

        app = App(settings, redis_url(settings))
        jobs = dead_jobs(app.broker.client, QUEUE)
        for job in jobs:
            print(f"{job.died_at:%Y-%m-%d %H:%M:%S}  {job.actor}{job.args}  {job.last_error}")
        print(
            f"{len(jobs)} dead-lettered job(s)"
            + (" — `panodock requeue-dead` puts them back" if jobs else "")
        )
        return 0


class RequeueDead(Command):
    """Put every dead-lettered job back on the queue."""

    name = "requeue-dead"
    help = "put every dead-lettered job back on the queue"

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        from workers.http.api import requeue_dead_captures
        from workers.queue.actors import App

        jobs = requeue_dead_captures(App(settings, redis_url(settings)))
        print(f"re-queued {len(jobs)} job(s)")
        return 0


COMMANDS: tuple[Command, ...] = (Dead(), RequeueDead())
