"""Process one capture: run its job through the stages, from archived originals to a live scene.

The runner alone records progress: entering a stage moves the ledger's stage, the stage
clock (:mod:`workers.queue.stage_limits`) and the log context's stage, once per stage. It
skips a stage whose output exists already for the job's scene version (see
:mod:`workers.pipeline.stages` for the order and :mod:`workers.pipeline.stage` for the
interface). The scene version is a hash of everything that decides the output
(:mod:`workers.pipeline.version`), so a retried or redelivered job computes the same keys,
finds ``scene.json`` already written and only makes sure the pointer is swapped (unless
the version is held for review, :mod:`workers.pipeline.review`: then the capture ends in
``review``, not ``published``); the
ledger's conditional transitions make "published" happen once per capture, and a
duplicate delivery behind a published one does nothing.

When a stage after the privacy stage fails, the runner checkpoints the blurred source
(:mod:`workers.pipeline.checkpoint`) before the exception goes on to the caller, which
decides the outcome (``config.outcomes``): the retry then starts at the tiles.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Collection, Sequence
from typing import Any

from config.settings import Settings
from config.webhooks import SCENE_PUBLISHED, SCENE_REVIEW
from ingest.sidecar import Sidecar
from stitching.fisheye import INTERPOLATIONS, DualFisheyeRemapper
from stitching.privacy import FaceDetector
from stitching.privacy.search import clear_caches as clear_search_caches
from tiling.cube import CubeProjector
from workers.notify import events
from workers.ops.logs import log_context, set_stage
from workers.pipeline import checkpoint
from workers.pipeline.inputs import Inputs
from workers.pipeline.job import Job
from workers.pipeline.stage import Context, Stage
from workers.pipeline.stages import STAGES
from workers.pipeline.stages.metadata import METADATA
from workers.pipeline.version import scene_version
from workers.queue.stage_limits import StageClock
from workers.state.ledger import UNFINISHED, Capture, Ledger, State
from workers.store.base import ObjectStore

log = logging.getLogger(__name__)

#: States a job may take a capture from: unfinished, or failed (a dead-lettered job sent
#: again). A published or quarantined capture is left alone.
CLAIMABLE = UNFINISHED | {State.FAILED}


class Pipeline:
    """Runs captures through the stages; one instance per worker process.

    Parameters
    ----------
    settings:
        The settings (those marked as changing the output enter the scene version).
    store, ledger:
        Where originals and published objects live, and the capture records.
    inputs:
        What the worker read at its edge: lens profiles, the face detector, their digests.
    projector, clock:
        The cube projector (its remap maps are cached) and the stage clock; defaults are a
        fresh projector and a clock without limits.
    stages:
        The stages in order (default :data:`workers.pipeline.stages.STAGES`).
    notify:
        Called with an event and its data when a capture is published (the app's webhooks,
        :mod:`workers.notify`); it must not raise. Default: nobody is told.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: ObjectStore,
        ledger: Ledger,
        inputs: Inputs,
        projector: CubeProjector | None = None,
        clock: StageClock | None = None,
        stages: Sequence[Stage] = STAGES,
        notify: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.ledger = ledger
        self.inputs = inputs
        self.clock = clock or StageClock({}, default=float("inf"))
        self.stages = tuple(stages)
        self.notify = notify
        self.context = Context(
            store=store,
            ledger=ledger,
            settings=settings,
            inputs=inputs,
            projector=projector or CubeProjector(),
            fisheye=DualFisheyeRemapper(
                interpolation=INTERPOLATIONS[settings.fisheye_interpolation]
            ),
        )

    def release_caches(self) -> None:
        """Drop the remap maps this worker keeps between jobs (rebuilt when next needed)."""
        self.context.projector.clear()
        self.context.fisheye.clear_maps()
        clear_search_caches()
        if self.detector is not None:
            self.detector.release_memory()

    @property
    def detector(self) -> FaceDetector | None:
        """The face detector this worker blurs with (None when no site requires blurring)."""
        return self.inputs.detector

    @property
    def fisheye(self) -> DualFisheyeRemapper:
        """The dual-fisheye remapper, whose maps and seam fits live as long as the worker."""
        return self.context.fisheye

    def version(self, capture: Capture, sidecar: Sidecar | None = None) -> str:
        """The version id of the scene ``capture`` makes (see workers.pipeline.version)."""
        return scene_version(capture, sidecar, settings=self.settings, inputs=self.inputs)

    def process(self, capture_id: str) -> None:
        """Run a capture's job; what a stage raises propagates for the caller to settle."""
        # Log lines name the capture and stage; both are reset when the job ends, so the
        # worker thread's next job does not inherit them.
        with log_context(capture_id=capture_id):
            try:
                self._process(capture_id)
            finally:
                # The stages entered end with the job, in a worker (where the stage-limits
                # middleware also ends them) or not (tests, the benchmark).
                self.clock.leave()

    def _process(self, capture_id: str) -> None:
        capture = self._claim(capture_id)
        if capture is None:
            current = self.ledger.get(capture_id)
            log.info("capture %s is %s already; nothing to do", capture_id, current.state)
            return
        job = Job(capture=capture, stage=METADATA)
        try:
            for stage in self.stages:
                if stage.done(job, self.context):
                    continue
                name = stage.name(job)
                if name is not None and name != job.stage:
                    self._enter(job.id, name)
                    job.stage = name
                stage.run(job, self.context)
        except BaseException:
            self._keep_source(job)
            raise
        keys = job.need_keys()
        if job.review is not None:
            self._hold(job)
            return
        done = self.ledger.transition(
            capture_id,
            State.PUBLISHED,
            expect={State.PROCESSING},
            version=keys.version,
            detail=job.outcome,
        )
        if done is None:
            log.info("capture %s was published by another worker", capture_id)
        else:
            log.info("capture %s published: %s", capture_id, keys.current)
            if self.notify is not None:  # after the pointer swap, once per capture
                self.notify(SCENE_PUBLISHED, events.published(keys, capture_id))

    def _hold(self, job: Job) -> None:
        """Record a held version: the capture waits in ``review`` for a person."""
        keys = job.need_keys()
        held = self.ledger.transition(
            job.id, State.REVIEW, expect={State.PROCESSING}, version=keys.version,
            reason=job.review, detail=f"held for review: {keys.prefix} is not live; {job.review}",
        )  # fmt: skip
        if held is None:
            log.info("capture %s was settled by another worker", job.id)
            return
        log.info("capture %s held for review: %s", job.id, job.review)
        if self.notify is not None:
            self.notify(SCENE_REVIEW, events.held(keys, job.id, job.review or ""))

    def _claim(self, capture_id: str) -> Capture | None:
        """Enter the first stage, taking the capture; None if it is not claimable."""
        capture = self._enter(
            capture_id,
            METADATA,
            expect=CLAIMABLE,
            detail=f"on {socket.gethostname()} pid {os.getpid()}",
        )
        if capture is None:
            return None
        return capture.model_copy(update={"attempts": capture.attempts + 1})

    def _enter(
        self,
        capture_id: str,
        stage: str,
        *,
        expect: Collection[State] = frozenset({State.PROCESSING}),
        detail: str | None = None,
    ) -> Capture | None:
        """The one place a stage is recorded: the clock, the log context, the ledger."""
        self.clock.enter(stage)
        set_stage(stage)  # every log line from here on names the stage
        # Later stages only while still processing: a duplicate delivery running behind the
        # one that published must not move the capture back out of "published".
        return self.ledger.transition(
            capture_id, State.PROCESSING, stage=stage, expect=expect, detail=detail
        )

    def _keep_source(self, job: Job) -> None:
        """Checkpoint the blurred source when a later stage failed (see module docstring)."""
        if job.restored or job.complete or job.manifest is not None:
            return  # kept already, or scene.json makes it needless
        if not job.blurred or job.keys is None:
            return  # only what may be published is kept, and only once it is keyed
        try:
            checkpoint.save(self.store, job.keys, job.need_source(), job.privacy)
        except Exception:  # the store may be what failed; the retry then starts over
            log.warning("could not checkpoint the source of %s", job.keys.prefix, exc_info=True)
        else:
            log.info("source of %s kept for the retry", job.keys.prefix)
