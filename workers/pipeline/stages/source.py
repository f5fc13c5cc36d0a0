"""The source stages: from the originals to one full-sphere equirect.

Three stage objects, in order:

- :class:`Resume` loads the checkpoint an earlier attempt of this version left (see
  :mod:`workers.pipeline.checkpoint`); then nothing below runs, nor the privacy stage.
- :class:`Kind` decodes a single image and decides what the capture is
  (:mod:`stitching.kinds`); its time counts in the metadata stage, as the decode's did.
- :class:`Build` makes the equirect: stitched (stage "stitch": a dual-fisheye frame or
  pair, or a multi-shot set) or validated (stage "validate": a 2:1 equirect, or a partial
  panorama GPano places on the sphere).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from config.errors import QuarantineError
from ingest.gpano import GPano
from ingest.image import decode_image
from ingest.metadata import ImageMetadata
from stitching.dual_fisheye import stitch_dual_fisheye
from stitching.equirect import CroppedArea, place_cropped, validate_area
from stitching.frames import Frame
from stitching.kinds import is_equirect_aspect, lens_pair, single_image_kind
from stitching.multishot import stitch_frames
from workers.pipeline import checkpoint
from workers.pipeline.job import Job, Source
from workers.pipeline.orientation import orient
from workers.pipeline.stage import Context
from workers.pipeline.stages.metadata import checked


class Resume:
    """Take the source and privacy record from this version's checkpoint, if there is one."""

    def done(self, job: Job, ctx: Context) -> bool:
        return job.complete

    def name(self, job: Job) -> str | None:
        return None  # a lookup: part of the metadata stage

    def run(self, job: Job, ctx: Context) -> None:
        keys = job.need_keys()
        found = checkpoint.load(ctx.store, keys)
        if found is None:
            return
        job.source, job.privacy = found
        job.restored = True
        orient(job)
        ctx.ledger.note(
            job.id,
            f"source restored from {checkpoint.checkpoint_prefix(keys)}/ (an earlier attempt's "
            "decode, stitch and blur)",
        )


class Kind:
    """Decode a single image and decide whether it is stitched or validated."""

    def done(self, job: Job, ctx: Context) -> bool:
        return job.complete or job.source is not None

    def name(self, job: Job) -> str | None:
        return None  # decoding the first image counts in the metadata stage

    def run(self, job: Job, ctx: Context) -> None:
        declared = job.sidecar.kind if job.sidecar else None
        if len(job.images) > 1 or declared == "multishot":
            job.stitch = True  # the stitch stage decodes the set
            return
        name = job.images[0].name
        image = decode_image(job.first, name=name)
        job.frames = [Frame(name=name, image=image)]
        gpano = job.need_meta().gpano
        projection = gpano.projection_type if gpano else None
        kind = single_image_kind(image, declared=declared, projection=projection)
        job.stitch = kind == "dual_fisheye"


class Build:
    """Make the full-sphere equirect: stitch it, or validate the equirect given."""

    def done(self, job: Job, ctx: Context) -> bool:
        return job.complete or job.source is not None

    def name(self, job: Job) -> str | None:
        return "stitch" if job.stitch else "validate"

    def run(self, job: Job, ctx: Context) -> None:
        job.source = _stitched(job, ctx) if job.stitch else _validated(job, ctx)
        orient(job)


def _stitched(job: Job, ctx: Context) -> Source:
    meta = job.need_meta()
    sidecar = job.sidecar
    declared = sidecar.kind if sidecar else None
    # The camera picks a dual-fisheye lens profile: EXIF, else the sidecar's device name.
    model = meta.model or (sidecar.device if sidecar else None)
    profiles = ctx.inputs.lens_profiles
    if job.frames:  # one frame with both circles, decoded by the Kind stage
        frame = job.frames[0]
        return Source.stitched(
            stitch_dual_fisheye(
                frame.image, make=meta.make, model=model, name=frame.name,
                profiles=profiles, remapper=ctx.fisheye,
            )
        )  # fmt: skip
    first = job.images[0]
    frames = [Frame(name=first.name, image=decode_image(job.first, name=first.name))]
    for file in job.images[1:]:
        frames.append(Frame(name=file.name, image=decode_image(checked(ctx, file), name=file.name)))
    pair = lens_pair(frames, declared)
    if pair is not None:
        result = stitch_dual_fisheye(
            pair,
            make=meta.make,
            model=model,
            name=" + ".join(f.name for f in frames),
            profiles=profiles,
            remapper=ctx.fisheye,
        )
        return Source.stitched(replace(result, frames_used=[f.name for f in frames]))
    rig = sidecar.rig if sidecar else None
    return Source.stitched(
        stitch_frames(
            frames,
            yaw_step_deg=rig.yaw_step_deg if rig else None,
            poses=rig.poses() if rig else None,
            brackets=rig.brackets if rig else 1,
            allow_incomplete=ctx.settings.allow_incomplete,
        )
    )


def _validated(job: Job, ctx: Context) -> Source:
    frame = job.frames[0]
    try:
        equirect, partial = _equirect(frame.image, job.need_meta(), ctx.settings.max_input_pixels)
    except QuarantineError as exc:
        raise QuarantineError(f"{frame.name}: {exc}") from exc
    return Source(equirect=equirect, kind="equirect", partial=partial)


def _equirect(image: np.ndarray, meta: ImageMetadata, max_pixels: int) -> tuple[np.ndarray, bool]:
    """A full 2:1 canvas from the decoded image, or a QuarantineError saying why not."""
    height, width = image.shape[:2]
    area = _cropped_area(meta.gpano)
    if area is not None:
        validate_area(area)
        scale = width / area.width
        canvas = round(area.full_width * scale) * round(area.full_height * scale)
        if canvas > max_pixels:
            raise QuarantineError(
                f"GPano says the full panorama is {area.full_width}x{area.full_height} "
                f"({canvas / 1e6:.0f} MP at this image's scale), above the limit of "
                f"{max_pixels / 1e6:.0f} MP"
            )
        return place_cropped(image, area), True
    if not is_equirect_aspect(width, height):
        raise QuarantineError(
            f"image is {width}x{height} (aspect {width / height:.2f}:1), not a 2:1 "
            "equirectangular panorama, and has no GPano cropped-area fields saying which "
            "part of the sphere it covers; export it from the camera app as a full 360x180 "
            "panorama"
        )
    return image, False


def _cropped_area(gpano: GPano | None) -> CroppedArea | None:
    """The part of the sphere GPano says the image covers; None for a full sphere."""
    if gpano is None:
        return None
    fields = (
        gpano.full_pano_width_pixels,
        gpano.full_pano_height_pixels,
        gpano.cropped_area_left_pixels,
        gpano.cropped_area_top_pixels,
        gpano.cropped_area_image_width_pixels,
        gpano.cropped_area_image_height_pixels,
    )
    values = [int(v) for v in fields if v is not None]
    if len(values) < len(fields):
        return None
    full_w, full_h, left, top, width, height = values
    if (width, height) == (full_w, full_h):
        return None
    return CroppedArea(
        full_width=full_w, full_height=full_h, left=left, top=top, width=width, height=height
    )
