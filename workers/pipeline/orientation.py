"""Which way is up and which way is north: levelling and heading of a scene.

Pitch and roll come from an operator's fix (``panodock review fix``), then the sidecar, then
GPano, then what the stitcher measured; when none of them knows the pose, from the image
itself (:mod:`stitching.upright`: the vertical vanishing direction of the scene's straight
lines), applied only when that estimate is confident and more than
:data:`LEVEL_ENOUGH_DEG` off. The compass heading comes from the fix, the sidecar, then
GPano. The levelling rotation is folded into the cube remap (tiles) and the master's
reprojection (previews), never applied to the source.

The image's structure (segments, vanishing axes) is found once per source equirect and kept
while that array lives, so the level check measures the residual tilt from it instead of
finding the lines again (:func:`structure_of`).
"""

from __future__ import annotations

import weakref

from stitching.sphere import pose_rotation
from stitching.upright import Structure, UpEstimate, decide_up, find_structure
from workers.contract.scene import Heading, Levelling
from workers.pipeline.job import Job

#: An image estimate at least this confident levels a scene that has no pose.
APPLY_CONFIDENCE = 0.6
#: An image estimate within this of upright leaves the scene untouched (deg).
LEVEL_ENOUGH_DEG = 0.5

# id(source equirect) -> its structure; an entry goes when its array is collected.
_STRUCTURES: dict[int, Structure] = {}


def orient(job: Job) -> None:
    """Set the job's levelling, heading and rotation from its metadata and source."""
    job.levelling, job.heading = orientation(job)
    job.rotation = None
    if job.levelling.pitch_deg or job.levelling.roll_deg:
        job.rotation = pose_rotation(job.levelling.pitch_deg, job.levelling.roll_deg)


def orientation(job: Job) -> tuple[Levelling, Heading]:
    """Pitch/roll to level and the compass heading: fix, sidecar, GPano, stitch, image."""
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
    elif not _pose_known(job):
        levelling = _from_image(upright_estimate(job))
    heading = Heading()
    if fixed.heading_deg is not None:
        heading = Heading(heading_deg=fixed.heading_deg, source="manual")
    elif orientation is not None and orientation.heading_deg is not None:
        heading = Heading(heading_deg=orientation.heading_deg, source="sidecar")
    elif gpano is not None and gpano.pose_heading_degrees is not None:
        heading = Heading(heading_deg=float(gpano.pose_heading_degrees) % 360.0, source="gpano")
    return levelling, heading


def structure_of(job: Job) -> Structure:
    """The straight lines and vanishing axes of the job's source equirect, found once."""
    equirect = job.need_source().equirect
    key = id(equirect)
    found = _STRUCTURES.get(key)
    if found is None:
        found = find_structure(equirect)
        _STRUCTURES[key] = found
        weakref.finalize(equirect, _STRUCTURES.pop, key, None)
    return found


def upright_estimate(job: Job) -> UpEstimate:
    """Where up is in the job's source, from its lines alone (no pose assumed)."""
    return decide_up(structure_of(job))


def _pose_known(job: Job) -> bool:
    """Some file or the stitcher says how the camera was held (zeros count: level)."""
    source = job.need_source()
    orientation = job.sidecar.orientation if job.sidecar else None
    gpano = job.need_meta().gpano
    said = [source.pitch_deg, source.roll_deg]
    if orientation is not None:
        said += [orientation.pitch_deg, orientation.roll_deg]
    if gpano is not None:
        said += [gpano.pose_pitch_degrees, gpano.pose_roll_degrees]
    return any(value is not None for value in said)


def _from_image(est: UpEstimate) -> Levelling:
    """The levelling an image estimate asks for, if it is sure and the scene is not level."""
    if est.confidence < APPLY_CONFIDENCE or est.tilt_deg <= LEVEL_ENOUGH_DEG:
        return Levelling()
    return Levelling(
        pitch_deg=est.pitch_deg, roll_deg=est.roll_deg, source="image",
        confidence=est.confidence,
    )  # fmt: skip
