"""Operator actions on captures and the dead letters, shared by the CLI and the status API."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from config.names import slug
from ingest.sidecar import SIDECAR_NAME, parse_sidecar
from workers.contract.keys import raw_key
from workers.notify import WEBHOOK_QUEUE
from workers.queue.actors import App
from workers.queue.broker import PROCESS_CAPTURE, QUEUE
from workers.queue.deadletters import DeadJob, dead_jobs, requeue_dead
from workers.state.ledger import Capture, CaptureNotFound, RawFile, State
from workers.store.factory import make_store

log = logging.getLogger(__name__)


def retry_capture(
    app: App, capture_id: str, *, sidecar: bytes | None = None, by: str | None = None
) -> Capture | None:
    """Send a failed or quarantined capture through again; None if it is in another state.

    ``sidecar`` is a corrected ``capture.json``: validated, archived under ``raw/`` like an
    original and made this capture's sidecar (the earlier one stays archived and named in
    the history), so the retry reads it; it is the same capture, not a new one.
    """
    found = app.ledger.find(capture_id)
    changes: dict[str, Any] = {}
    detail = "retry requested"
    if sidecar is not None:
        changes, detail = _new_sidecar(app, found, sidecar)
    moved = app.ledger.transition(
        found.id,
        State.QUEUED,
        expect={State.FAILED, State.QUARANTINED},
        detail=detail,
        by=by,
        **changes,
    )
    if moved is not None:
        app.enqueue(found.id)
    return moved


def _new_sidecar(app: App, capture: Capture, data: bytes) -> tuple[dict[str, Any], str]:
    """Archive a corrected sidecar; the capture's new files and the history line."""
    parsed = parse_sidecar(data, name=SIDECAR_NAME)  # a SidecarError names what is wrong
    sha = hashlib.sha256(data).hexdigest()
    store = app.store or make_store(app.settings)
    key = raw_key(sha, SIDECAR_NAME)
    store.put(key, data, content_type="application/json")
    app.ledger.claim_blob(sha, capture.id)
    old = next((f for f in capture.files if f.name == capture.sidecar), None)
    files = [f for f in capture.files if f.name not in (capture.sidecar, SIDECAR_NAME)]
    files.append(RawFile(name=SIDECAR_NAME, sha256=sha, size=len(data), key=key))
    was = f"; the earlier one ({old.key}) stays archived" if old else ""
    changes: dict[str, Any] = {"files": files, "sidecar": SIDECAR_NAME}
    # The names the intake would have given it with this sidecar (ingest.intake._names).
    if parsed.site:
        changes["site"] = slug(parsed.site)
    if parsed.scene:
        changes["scene"] = slug(parsed.scene)
    moved = [f"{k} {capture.model_dump()[k]} -> {v}" for k, v in changes.items()
             if k in ("site", "scene") and v != getattr(capture, k)]  # fmt: skip
    return changes, (
        f"retry with a corrected sidecar, archived as {key}{was}"
        + (f"; {', '.join(moved)}" if moved else "")
    )


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
