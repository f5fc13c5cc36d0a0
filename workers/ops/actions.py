"""Operator actions on captures and the dead letters, shared by the CLI and the status API."""

from __future__ import annotations

import logging

from workers.notify import WEBHOOK_QUEUE
from workers.queue.actors import App
from workers.queue.broker import PROCESS_CAPTURE, QUEUE
from workers.queue.deadletters import DeadJob, dead_jobs, requeue_dead
from workers.state.ledger import Capture, CaptureNotFound, State

log = logging.getLogger(__name__)


def retry_capture(app: App, capture_id: str) -> Capture | None:
    """Send a failed or quarantined capture through again; None if it is in another state."""
    found = app.ledger.find(capture_id)
    moved = app.ledger.transition(
        found.id, State.QUEUED, expect={State.FAILED, State.QUARANTINED}, detail="retry requested"
    )
    if moved is not None:
        app.enqueue(found.id)
    return moved


def requeue_dead_captures(app: App) -> list[DeadJob]:
    """Put every dead-lettered capture job back on the queue, its capture back to queued.

    The captures are recorded as queued BEFORE their jobs are sent again, as the intake
    does: a job that ran at once must not find its capture moved back afterwards.
    """
    for job in dead_jobs(app.broker.client, QUEUE):
        if job.actor != PROCESS_CAPTURE or not job.args:
            continue
        try:
            app.ledger.transition(
                str(job.args[0]), State.QUEUED, expect={State.FAILED, State.PROCESSING},
                detail="dead-lettered job re-queued",
            )  # fmt: skip
        except CaptureNotFound:
            log.warning("re-queued dead job %s names no capture in the ledger", job.args[0])
    return requeue_dead(app.broker, QUEUE)


def requeue_all_dead(app: App) -> tuple[list[DeadJob], list[DeadJob]]:
    """Every dead-lettered capture job and webhook delivery back on its queue."""
    return requeue_dead_captures(app), requeue_dead(app.broker, WEBHOOK_QUEUE)
