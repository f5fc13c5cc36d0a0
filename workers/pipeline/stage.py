"""What a stage is, and what every stage may use (the worker's long-lived tools).

A stage is an object with three methods, called by the runner in this order:

- ``done(job, ctx)``: whether its output exists already for this job (keyed by the scene
  version's keys, as ODM's stages look for their outputs) or there is nothing to do; the
  runner then skips it.
- ``name(job)``: what the ledger, the stage clock and the log lines call the work; None
  when it is bookkeeping that belongs to the stage before it (its time counts there).
- ``run(job, ctx)``: do the work, leaving the output in the job (and the store).

Stages never record their own progress: the runner does it, once per stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from config.settings import Settings
from stitching.fisheye import DualFisheyeRemapper
from tiling.cube import CubeProjector
from workers.pipeline.inputs import Inputs
from workers.pipeline.job import Job
from workers.state.ledger import Ledger
from workers.store.base import ObjectStore


@dataclass(frozen=True, slots=True)
class Context:
    """What stages work with: one per worker process, shared by its jobs."""

    store: ObjectStore
    ledger: Ledger
    settings: Settings
    inputs: Inputs
    projector: CubeProjector
    fisheye: DualFisheyeRemapper  # remap maps (dropped when idle) and each camera's seam fit


class Stage(Protocol):
    """One step of a job (see module docstring)."""

    def done(self, job: Job, ctx: Context) -> bool:
        """Whether the stage's output exists already for this job (then it is skipped)."""
        ...

    def name(self, job: Job) -> str | None:
        """The stage's name in the ledger, the clock and the logs; None: the one before's."""
        ...

    def run(self, job: Job, ctx: Context) -> None:
        """Do the stage's work for ``job``."""
        ...
