"""Which way is up and which way is north: levelling and heading of a scene.

Pitch and roll come from an operator's fix (``panodock review fix``), then the sidecar, then
GPano, then what the stitcher measured; the compass heading from the fix, the sidecar, then
GPano. The levelling rotation is folded into the
cube remap (tiles) and the master's reprojection (previews), never applied to the source.
"""

from __future__ import annotations

from stitching.sphere import pose_rotation
from workers.contract.scene import Heading, Levelling
from workers.pipeline.job import Job


def orient(job: Job) -> None:
    """Set the job's levelling, heading and rotation from its metadata and source."""
    job.levelling, job.heading = orientation(job)
    job.rotation = None
    if job.levelling.pitch_deg or job.levelling.roll_deg:
        job.rotation = pose_rotation(job.levelling.pitch_deg, job.levelling.roll_deg)


def orientation(job: Job) -> tuple[Levelling, Heading]:
    """Pitch/roll to level and the compass heading: sidecar, then GPano, then the stitch."""
    source = job.need_source()
    orientation = job.sidecar.orientation if job.sidecar else None
    gpano = job.need_meta().gpano
    levelling = Levelling()
    if orientation is not None and (orientation.pitch_deg or orientation.roll_deg):
        levelling = Levelling(
            pitch_deg=orientation.pitch_deg or 0.0,
            roll_deg=orientation.roll_deg or 0.0,
            source="sidecar",
        )
    elif gpano is not None and (gpano.pose_pitch_degrees or gpano.pose_roll_degrees):
        levelling = Levelling(
            pitch_deg=float(gpano.pose_pitch_degrees or 0.0),
            roll_deg=float(gpano.pose_roll_degrees or 0.0),
            source="gpano",
        )
    elif source.pitch_deg or source.roll_deg:
        levelling = Levelling(
            pitch_deg=source.pitch_deg or 0.0, roll_deg=source.roll_deg or 0.0, source="stitch"
        )
    fixed = job.capture.overrides  # an operator's fix wins over everything the files say
    if fixed.pitch_deg is not None or fixed.roll_deg is not None:
        levelling = Levelling(
            pitch_deg=fixed.pitch_deg or 0.0, roll_deg=fixed.roll_deg or 0.0, source="manual"
        )
    heading = Heading()
    if fixed.heading_deg is not None:
        heading = Heading(heading_deg=fixed.heading_deg, source="manual")
    elif orientation is not None and orientation.heading_deg is not None:
        heading = Heading(heading_deg=orientation.heading_deg, source="sidecar")
    elif gpano is not None and gpano.pose_heading_degrees is not None:
        heading = Heading(heading_deg=float(gpano.pose_heading_degrees) % 360.0, source="gpano")
    return levelling, heading
