"""The dramatiq side: the actors, and what a job's end does to its capture.

Actors are declared on a broker built from the settings (never at import time), so the
watcher, the workers and the tests each build their own ``App``. A job carries only a
capture id; everything else is in the ledger and the object store, so any worker host can
run any job (nothing is shared on disk).

What happens to a job that raised is the one outcome table's decision
(``config.outcomes``): the actor body records a quarantined or failed capture (an
unexpected exception with its traceback) and returns; a job to retry is recorded as a
typed retry event and re-raised, and dramatiq's Retries middleware, consulting the same
table, retries it with backoff until its retries run out.

The outcomes a capture's webhooks hear of are emitted here, once, by the call that recorded
them: ``capture.quarantined``, ``capture.failed`` (retries exhausted included), and
``scene.published`` from the pipeline after the pointer swap. Deliveries are a second actor
on their own queue (:mod:`workers.notify`), declared on the same broker.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage

from config.data import FACE_MODEL, LENSES_TOML
from config.errors import ConfigError
from config.outcomes import is_unexpected, outcome
from config.settings import Settings
from workers.notify import CAPTURE_FAILED, CAPTURE_QUARANTINED, Notifier, emit, events
from workers.pipeline.inputs import Inputs
from workers.pipeline.runner import Pipeline
from workers.queue.broker import CAPTURE_GAVE_UP, PROCESS_CAPTURE, QUEUE, make_broker, redis_client
from workers.queue.memory import IdleRelease
from workers.queue.stage_limits import StageClock
from workers.state.ledger import UNFINISHED, Capture, Ledger, State
from workers.store.base import ObjectStore
from workers.store.factory import make_store

log = logging.getLogger(__name__)


class App:
    """Broker, actors and (in worker processes) the pipeline, built from one Settings."""

    def __init__(
        self, settings: Settings, redis_url: str, *, store: ObjectStore | None = None
    ) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.store = store
        self.clock = StageClock(settings.stage_time_limits, default=settings.job_time_limit_seconds)
        self.broker = make_broker(settings, redis_url, stage_clock=self.clock)
        self.ledger = Ledger(client=redis_client(redis_url))
        self._pipeline: Pipeline | None = None
        #: Memory back after each job, and the caches once idle (workers.queue.memory).
        self.idle = IdleRelease(
            self._release_caches, idle_seconds=settings.worker_idle_release_seconds
        )
        #: Webhook deliveries: their own actor and queue (workers.notify).
        self.notifier = Notifier(settings, self.broker)
        self.process_capture: dramatiq.Actor[[str], None] = dramatiq.Actor(
            self._process_capture,
            broker=self.broker,
            actor_name=PROCESS_CAPTURE,
            queue_name=QUEUE,
            priority=0,
            options={"on_retry_exhausted": CAPTURE_GAVE_UP},
        )
        self.capture_gave_up: dramatiq.Actor[[dict[str, Any], dict[str, Any]], None] = (
            dramatiq.Actor(
                self._capture_gave_up,
                broker=self.broker,
                actor_name=CAPTURE_GAVE_UP,
                queue_name=QUEUE,
                priority=0,
                options={},
            )
        )

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline of this worker process, built on first use (it loads the model)."""
        if self._pipeline is None:
            self._pipeline = Pipeline(
                self.settings,
                store=self.store or make_store(self.settings),
                ledger=self.ledger,
                inputs=self._inputs(),
                clock=self.clock,
                notify=self.notify,
            )
        return self._pipeline

    def _inputs(self) -> Inputs:
        """Read the data files that change the output: the edge of the pipeline."""
        s = self.settings
        model = None
        path = s.face_model_path or FACE_MODEL
        # The face detector only when some site requires blurring (a bad model fails loudly).
        if s.blur != "off" or "required" in s.blur_sites.values():
            try:
                model = path.read_bytes()
            except OSError as exc:
                raise ConfigError(f"cannot read the face detection model {path}: {exc}") from exc
        return Inputs.from_data(
            lenses_toml=LENSES_TOML.read_text(encoding="utf-8"),
            face_model=model,
            threshold=s.blur_threshold,
            model_name=str(path),
        )

    def notify(self, event: str, payload: dict[str, Any]) -> None:
        """Queue ``event`` for the webhooks that want it (never raises; workers.notify)."""
        emit(self.notifier, event, payload)

    def enqueue(self, capture_id: str) -> None:
        """Queue a capture for processing (from the watcher or an ops command)."""
        self.process_capture.send(capture_id)

    def _release_caches(self) -> None:
        if self._pipeline is not None:
            self._pipeline.release_caches()

    def _process_capture(self, capture_id: str) -> None:
        with self.idle.job():
            self._run_capture(capture_id)

    def _run_capture(self, capture_id: str) -> None:
        try:
            self.pipeline.process(capture_id)
        except BaseException as raised:
            exc = self.clock.named(raised)  # a stage timeout names its stage
            action = outcome(exc)
            if action == "quarantine":
                log.warning("capture %s quarantined: %s", capture_id, exc)
                moved = self.ledger.transition(
                    capture_id, State.QUARANTINED, reason=str(exc), error=type(exc).__name__
                )
                self._tell(CAPTURE_QUARANTINED, moved)
                return
            if action == "fail":
                self._fail(capture_id, exc)
                return
            self._note_retry(capture_id, exc)
            if exc is raised:
                raise
            raise exc from None

    def _fail(self, capture_id: str, exc: BaseException) -> None:
        """Mark the capture failed; an unexpected exception keeps its traceback in the history."""
        name = type(exc).__name__
        if not is_unexpected(exc):
            log.warning("capture %s failed: %s", capture_id, exc)
            moved = self.ledger.transition(capture_id, State.FAILED, reason=str(exc), error=name)
            self._tell(CAPTURE_FAILED, moved)
            return
        log.error("capture %s failed on an unexpected error", capture_id, exc_info=exc)
        reason = (
            f"unexpected {name}: {exc} (a bug, not the capture: the traceback is in its "
            f"history; after a fix, `panodock retry {capture_id[:12]}`)"
        )
        trace = "".join(traceback.format_exception(exc)).rstrip()
        moved = self.ledger.transition(
            capture_id, State.FAILED, reason=reason, detail=trace, error=name
        )
        self._tell(CAPTURE_FAILED, moved)

    def _tell(self, event: str, capture: Capture | None) -> None:
        """Emit a capture's outcome, if this call is the one that recorded it."""
        if capture is not None:
            self.notify(event, events.capture_outcome(capture, capture.reason))

    def _note_retry(self, capture_id: str, exc: BaseException) -> None:
        message = CurrentMessage.get_current_message()
        retries = message.options.get("retries", 0) if message else 0
        left = self.settings.max_retries - retries
        what = f"attempt {retries + 1} failed ({type(exc).__name__}: {exc})"
        try:
            if left > 0:
                self.ledger.note_retry(
                    capture_id,
                    attempt=retries + 1,
                    error=type(exc).__name__,
                    detail=f"{what}; {left} retr{'y' if left == 1 else 'ies'} left",
                )
            else:  # dramatiq gives up now; capture_gave_up records the failure
                self.ledger.note(capture_id, f"{what}; no retries left")
        except Exception:  # the ledger may be what is down; the retry still happens
            log.warning("could not record the failed attempt of %s", capture_id, exc_info=True)

    def _capture_gave_up(self, message: dict[str, Any], info: dict[str, Any]) -> None:
        capture_id = message["args"][0]
        reason = (
            f"gave up after {info.get('retries')} attempts; last error: "
            f"{_last_error(message)}. Fix the cause, then `panodock retry {capture_id[:12]}`"
        )
        moved = self.ledger.transition(capture_id, State.FAILED, reason=reason, expect=UNFINISHED)
        self._tell(CAPTURE_FAILED, moved)


def _last_error(message: dict[str, Any]) -> str:
    trace = message.get("options", {}).get("traceback") or ""
    lines = [line for line in trace.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "unknown"
