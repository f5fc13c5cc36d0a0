"""The source stages: from the originals to one full-sphere equirect.

Three stage objects, in order:

- :class:`Resume` loads the checkpoint an earlier attempt of this version left (see
  :mod:`workers.pipeline.checkpoint`); then nothing below runs, nor the privacy stage.
- :class:`Kind` decodes a single image and decides what the capture is
  (:mod:`stitching.kinds`); its time counts in the metadata stage, as the decode's did.
  Images that are HDR brackets of one position are all decoded and lined up here
  (:mod:`stitching.hdr`), and fused by :class:`Build` before anything else.
- :class:`Build` makes the equirect: stitched (stage "stitch": a dual-fisheye frame or
  pair, or a multi-shot set) or validated (stage "validate": a 2:1 equirect, or a partial
  panorama GPano places on the sphere).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from config.errors import CaptureError, QuarantineError
from ingest.camera_files import is_insta360_photo
from ingest.gpano import GPano
from ingest.image import decode_image, probe_image
from ingest.metadata import ImageMetadata, read_metadata
from stitching.dual_fisheye import stitch_dual_fisheye
from stitching.equirect import CroppedArea, place_cropped, validate_area
from stitching.frames import Frame
from stitching.hdr import (
    MIN_AGREEMENT,
    Alignment,
    align_brackets,
    fuse_brackets,
    reference_bracket,
)
from stitching.kinds import (
    MAX_BRACKETS,
    bracket_set,
    exposure_steps,
    is_equirect_aspect,
    lens_pair,
    single_image_kind,
)
from stitching.lens import LensProfile, generic_profile
from stitching.multishot import stitch_frames
from workers.contract.scene import Brackets
from workers.contract.site import CameraLens
from workers.pipeline import checkpoint
from workers.pipeline.job import Job, Source
from workers.pipeline.orientation import orient
from workers.pipeline.stage import Context
from workers.pipeline.stages.metadata import checked
from workers.sites.cameras import GENERIC_LENS, fit_for_frame, memory_details, note


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
        if _bracketed(job, ctx):
            return
        if len(job.images) > 1 or declared == "multishot":
            job.stitch = True  # the stitch stage decodes the set
            return
        name = job.images[0].name
        image = decode_image(job.first, name=name)
        job.frames = [Frame(name=name, image=image)]
        gpano = job.need_meta().gpano
        projection = gpano.projection_type if gpano else None
        kind = single_image_kind(
            image, declared=declared, projection=projection, name=name,
            unstitched=is_insta360_photo(job.first),
        )  # fmt: skip
        job.stitch = kind == "dual_fisheye"


class Build:
    """Make the full-sphere equirect: stitch it, or validate the equirect given."""

    def done(self, job: Job, ctx: Context) -> bool:
        return job.complete or job.source is not None

    def name(self, job: Job) -> str | None:
        return "stitch" if job.stitch else "validate"

    def run(self, job: Job, ctx: Context) -> None:
        if job.brackets is not None:
            _fuse(job)
        job.source = _stitched(job, ctx) if job.stitch else _validated(job, ctx)
        if job.brackets is not None:
            _record_brackets(job.source, job.brackets)
        orient(job)


def _stitched(job: Job, ctx: Context) -> Source:
    meta = job.need_meta()
    sidecar = job.sidecar
    declared = sidecar.kind if sidecar else None
    # The camera picks a dual-fisheye lens profile: EXIF, else the sidecar's device name.
    model = meta.model or (sidecar.device if sidecar else None)
    profiles = ctx.inputs.lens_profiles
    chosen = _chosen_profile(job, profiles)  # an operator's fix or the site's memory
    if job.frames:  # one frame with both circles, decoded by the Kind stage
        frame = job.frames[0]
        fit = _remembered_fit(job, frame)  # a fit the site approved for this camera's frames
        result = stitch_dual_fisheye(
            frame.image, make=meta.make, model=model, name=frame.name,
            profiles=profiles, profile=fit[1] if fit else chosen, remapper=ctx.fisheye,
        )  # fmt: skip
        if fit is not None:
            remembered = {"remembered_fit": memory_details(fit[0])}
            result = replace(result, details={**result.details, **remembered})
        return Source.stitched(result)
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
            profile=chosen,
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
            fixed_exposure=rig is not None,
        )
    )


def _chosen_profile(job: Job, profiles: Mapping[str, LensProfile]) -> LensProfile | None:
    """The profile ``job.lens`` names (``generic``: the generic model); None: by make/model."""
    if job.lens is None:
        return None
    if job.lens == GENERIC_LENS:
        return generic_profile()
    if job.lens not in profiles:
        raise CaptureError(
            f"lens profile {job.lens!r} is not one panodock knows (known: "
            f"{', '.join(sorted(profiles))}, {GENERIC_LENS})"
        )
    return profiles[job.lens]


def _remembered_fit(job: Job, frame: Frame) -> tuple[CameraLens, LensProfile] | None:
    """The approved fit ``frame`` matches (:mod:`workers.sites.cameras`); CaptureError if broken."""
    try:
        found = fit_for_frame(job.lens_fits, frame.image) if job.lens_fits else None
    except ValueError as exc:
        raise CaptureError(
            f"{frame.name}: {exc}; approve a new fit, or name the lens "
            "(panodock review fix --lens NAME)"
        ) from exc
    if found is not None:
        job.lens_note = note(found[0])
    return found


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


def _bracketed(job: Job, ctx: Context) -> bool:
    """Decode and line up the images when they are HDR brackets of one position.

    True: ``job.frames`` holds the brackets, ``job.brackets`` how they line up, and
    ``job.stitch`` says whether the fused image is a dual-fisheye frame (decided on the
    middle exposure). False: the job goes on as before (one image, a lens pair, a multi-shot
    set); images the EXIF alone calls brackets but whose views differ (a rotating head in
    auto exposure) are not brackets.
    """
    sidecar = job.sidecar
    declared = sidecar.brackets if sidecar else None
    kind = sidecar.kind if sidecar else None
    count = len(job.images)
    if kind == "multishot" or declared == 1:
        return False
    if declared is None and not 2 <= count <= MAX_BRACKETS:
        return False
    names = [f.name for f in job.images]
    data = [job.first] + [checked(ctx, f) for f in job.images[1:]]
    metas = [job.need_meta()] + [read_metadata(d) for d in data[1:]]
    infos = [probe_image(d, name=n) for d, n in zip(data, names, strict=True)]
    exposures = exposure_steps(
        [m.exposure_time_s for m in metas], [m.exposure_bias_ev for m in metas]
    )
    evidence = bracket_set(
        [(i.width, i.height) for i in infos], exposures,
        names=names, declared_kind=kind, declared_brackets=declared,
    )  # fmt: skip
    if evidence is None:
        return False
    evs: list[float | None] = list(exposures) if exposures else [None] * count
    frames = [
        Frame(name=n, image=decode_image(d, name=n), exposure_ev=ev, position=0)
        for n, d, ev in zip(names, data, evs, strict=True)
    ]
    del data
    reference = reference_bracket(evs)
    alignment = align_brackets([f.image for f in frames], reference=reference)
    if evidence == "exif" and not alignment.lined_up():
        ctx.ledger.note(
            job.id,
            f"the EXIF exposures of {', '.join(names)} differ but their views do not match "
            f"(bitmap agreement {min(alignment.agreement):.2f}): not HDR brackets",
        )
        return False
    job.frames = frames
    job.brackets = Brackets(
        count=count,
        files=names,
        exposure_ev=exposures,
        reference=names[reference],
        shifts_px=list(alignment.shifts),
        agreement=[round(a, 3) for a in alignment.agreement],
        recognised_by=evidence,
    )
    middle = frames[reference]
    gpano = job.need_meta().gpano
    projection = gpano.projection_type if gpano else None
    job.stitch = (
        single_image_kind(middle.image, declared=kind, projection=projection, name=middle.name)
        == "dual_fisheye"
    )
    return True


def _fuse(job: Job) -> None:
    """Replace the brackets in ``job.frames`` by their fusion (before the fisheye remap)."""
    brackets = job.brackets
    if brackets is None or len(job.frames) < 2:
        return
    images = [f.image for f in job.frames]
    height, width = images[0].shape[:2]
    # A full equirect's edges meet: shifts and the fusion wrap round there.
    wrap = (
        not job.stitch
        and is_equirect_aspect(width, height)
        and _cropped_area(job.need_meta().gpano) is None
    )
    alignment = Alignment(
        reference=brackets.files.index(brackets.reference),
        shifts=tuple(brackets.shifts_px),
        agreement=tuple(brackets.agreement),
    )
    fused = fuse_brackets(images, alignment, wrap=wrap)
    job.frames = [Frame(name=" + ".join(brackets.files), image=fused)]


def _record_brackets(source: Source, brackets: Brackets) -> None:
    source.brackets = brackets
    if "frames_used" in source.details:
        source.details["frames_used"] = list(brackets.files)
    worst = min(brackets.agreement)
    if worst < MIN_AGREEMENT:
        source.warnings.append(
            f"the brackets {', '.join(brackets.files)} do not line up well (bitmap agreement "
            f"{worst:.2f} after the best shift, below {MIN_AGREEMENT}): the camera or the "
            "scene moved between exposures; expect ghosts"
        )
