"""The dramatiq side: broker settings, the actors, and what is retried.

Actors are declared on a broker built from the settings (never at import time), so the
watcher, the workers and the tests each build their own ``App``. A job carries only a
capture id; everything else is in the ledger and the object store, so any worker host can
run any job (nothing is shared on disk).
"""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
import redis
from dramatiq.middleware import CurrentMessage

from config.data import FACE_MODEL, LENSES_TOML
from config.errors import CaptureError, ConfigError, InfrastructureError, QuarantineError
from config.settings import Settings
from stitching.lens import parse_profiles
from stitching.privacy import FaceDetector
from workers.pipeline.core import Pipeline, RenderSettings
from workers.queue.broker import CAPTURE_GAVE_UP, PROCESS_CAPTURE, QUEUE, make_broker, redis_client
from workers.queue.stage_limits import StageClock
from workers.state.ledger import Ledger, State
from workers.store.base import ObjectStore
from workers.store.factory import make_store

log = logging.getLogger(__name__)

#: The one table of what happens to a job that raised (STYLE.md #8), most specific first.
#: "quarantine"/"fail" end the capture with the message as its reason; "retry" raises so
#: dramatiq retries with backoff, and a capture whose retries run out is marked failed.
OUTCOMES: tuple[tuple[type[BaseException], str], ...] = (
    (QuarantineError, "quarantine"),
    (CaptureError, "fail"),
    (InfrastructureError, "retry"),
    (redis.RedisError, "retry"),
    (OSError, "retry"),
    (Exception, "retry"),
)


def outcome(exc: BaseException) -> str:
    """What to do with a job that raised ``exc`` (see OUTCOMES)."""
    for kind, action in OUTCOMES:
        if isinstance(exc, kind):
            return action
    return "retry"


class App:
    """Broker, actors and (in worker processes) the pipeline, built from one Settings."""

    def __init__(
        self, settings: Settings, redis_url: str, *, store: ObjectStore | None = None
    ) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.store = store
        self.broker = make_broker(settings, redis_url)
        self.ledger = Ledger(client=redis_client(redis_url))
        self._pipeline: Pipeline | None = None
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
        if self._pipeline is None:
            s = self.settings
            self._pipeline = Pipeline(
                store=self.store or make_store(s),
                ledger=self.ledger,
                render=RenderSettings(
                    tile_size=s.tile_size,
                    jpeg_quality=s.jpeg_quality,
                    equirect_max_width=s.equirect_max_width,
                    max_input_pixels=s.max_input_pixels,
                    upload_threads=s.upload_threads,
                    allow_incomplete=s.allow_incomplete,
                    fisheye_interpolation=s.fisheye_interpolation,
                    blur=s.blur,
                    blur_sites=dict(s.blur_sites),
                    blur_threshold=s.blur_threshold,
                ),
                detector=self._detector(),
                lens_profiles=parse_profiles(LENSES_TOML.read_text(encoding="utf-8")),
                clock=StageClock(s.stage_time_limits, default=s.job_time_limit_seconds),
            )
        return self._pipeline

    def _detector(self) -> FaceDetector | None:
        """The face detector, when any site requires blurring (a bad model fails loudly)."""
        s = self.settings
        if s.blur == "off" and "required" not in s.blur_sites.values():
            return None
        path = s.face_model_path or FACE_MODEL
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read the face detection model {path}: {exc}") from exc
        return FaceDetector.from_onnx(data, threshold=s.blur_threshold, name=str(path))

    def enqueue(self, capture_id: str) -> None:
        """Queue a capture for processing (from the watcher or an ops command)."""
        self.process_capture.send(capture_id)

    def _process_capture(self, capture_id: str) -> None:
        try:
            self.pipeline.process(capture_id)
        except BaseException as exc:
            action = outcome(exc)
            if action == "quarantine":
                log.warning("capture %s quarantined: %s", capture_id, exc)
                self.ledger.transition(capture_id, State.QUARANTINED, reason=str(exc))
                return
            if action == "fail":
                log.warning("capture %s failed: %s", capture_id, exc)
                self.ledger.transition(capture_id, State.FAILED, reason=str(exc))
                return
            self._note_retry(capture_id, exc)
            raise

    def _note_retry(self, capture_id: str, exc: BaseException) -> None:
        message = CurrentMessage.get_current_message()
        retries = message.options.get("retries", 0) if message else 0
        try:
            self.ledger.note(
                capture_id,
                f"attempt {retries + 1} failed ({type(exc).__name__}: {exc}); will retry",
            )
        except Exception:  # the ledger may be what is down; the retry still happens
            log.warning("could not record the failed attempt of %s", capture_id, exc_info=True)

    def _capture_gave_up(self, message: dict[str, Any], info: dict[str, Any]) -> None:
        capture_id = message["args"][0]
        reason = (
            f"gave up after {info.get('retries')} attempts; last error: "
            f"{_last_error(message)}. Fix the cause, then `panodock retry {capture_id[:12]}`"
        )
        unfinished = {State.RECEIVED, State.ARCHIVED, State.QUEUED, State.PROCESSING}
        self.ledger.transition(capture_id, State.FAILED, reason=reason, expect=unfinished)


def _last_error(message: dict[str, Any]) -> str:
    trace = message.get("options", {}).get("traceback") or ""
    lines = [line for line in trace.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "unknown"
