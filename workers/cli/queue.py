"""``panodock dead|requeue-dead``: jobs whose retries ran out, on every queue.

The queues are the captures' and the webhook deliveries' (:mod:`workers.notify`); a
webhook job is shown by its event, delivery id and receiver (the URL without its query,
which may hold a receiver's token), not by its body.
"""

from __future__ import annotations

import argparse

from config.settings import Settings
from workers.cli.command import Command, redis_url


def describe(actor: str, args: tuple[object, ...]) -> str:
    """One line naming a dead job: the actor and what it was about."""
    from workers.notify import DELIVER_WEBHOOK
    from workers.notify.delivery import redacted

    if actor == DELIVER_WEBHOOK and len(args) == 4:
        url, delivery, event = str(args[0]), args[1], args[2]
        return f"{actor}({event} {delivery} -> {redacted(url)})"
    return f"{actor}{args}"


class Dead(Command):
    """List the dead-lettered jobs."""

    name = "dead"
    help = "list dead-lettered jobs (retries exhausted), captures and webhook deliveries"

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        from workers.notify import WEBHOOK_QUEUE
        from workers.queue.actors import App
        from workers.queue.broker import QUEUE
        from workers.queue.deadletters import dead_jobs

        app = App(settings, redis_url(settings))
        jobs = [
            (queue, job) for queue in (QUEUE, WEBHOOK_QUEUE)
            for job in dead_jobs(app.broker.client, queue)
        ]  # fmt: skip
        for queue, job in sorted(jobs, key=lambda row: row[1].died_at):
            print(
                f"{job.died_at:%Y-%m-%d %H:%M:%S}  {queue:<9} "
                f"{describe(job.actor, job.args)}  {job.last_error}"
            )
        print(
            f"{len(jobs)} dead-lettered job(s)"
            + (" — `panodock requeue-dead` puts them back" if jobs else "")
        )
        return 0


class RequeueDead(Command):
    """Put every dead-lettered job back on its queue."""

    name = "requeue-dead"
    help = "put every dead-lettered job back on its queue"

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        from workers.ops.actions import requeue_all_dead
        from workers.queue.actors import App

        jobs, deliveries = requeue_all_dead(App(settings, redis_url(settings)))
        print(f"re-queued {len(jobs)} job(s) and {len(deliveries)} webhook delivery(ies)")
        return 0


COMMANDS: tuple[Command, ...] = (Dead(), RequeueDead())
