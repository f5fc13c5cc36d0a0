"""The stages of a job, declared in the order they run (see :mod:`workers.pipeline.stage`).

::

    metadata  Metadata        sidecar, images, metadata, placement, version
              Resume          the source checkpoint of an earlier attempt, if any
              Kind            decode a single image, decide stitch or validate
    stitch |  Build           the full-sphere equirect
    validate
    privacy   Blur            faces and the regions asked for, in place
    checks    Measure         lens, seam, exposure, frames, coverage, level, privacy checks
              Gate            a failed check fails the capture (nothing rendered)
    tiles     Tiles           cube faces cut into tiles, written
    previews  Previews        master, thumbnail, cube strip, written
    publish   WriteManifest   scene.json: the version is complete
              DropCheckpoint  the checkpoint is no longer needed
              Hold            a doubtful version waits for a person (state review)
              SwapPointer     current.json, never back in time
    tour      Tour            the site's tour.json, when this version went live
"""

from __future__ import annotations

from typing import Final

from workers.pipeline.stage import Stage
from workers.pipeline.stages.checks import Measure
from workers.pipeline.stages.metadata import Metadata
from workers.pipeline.stages.privacy import Blur
from workers.pipeline.stages.publish import DropCheckpoint, SwapPointer, Tour, WriteManifest
from workers.pipeline.stages.render import Previews, Tiles
from workers.pipeline.stages.review import Gate, Hold
from workers.pipeline.stages.source import Build, Kind, Resume

STAGES: Final[tuple[Stage, ...]] = (
    Metadata(),
    Resume(),
    Kind(),
    Build(),
    Blur(),
    Measure(),
    Gate(),
    Tiles(),
    Previews(),
    WriteManifest(),
    DropCheckpoint(),
    Hold(),
    SwapPointer(),
    Tour(),
)
