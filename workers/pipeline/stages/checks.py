"""The checks stage: measure every scene version before anything of it is rendered.

:class:`Measure` runs after the privacy stage (on the pixels that will be published, in
the levelled frame the tiles will have) and before :class:`~workers.pipeline.stages.review.Gate`,
which reads ``job.checks``. It appends one :class:`~workers.contract.scene.Check` per
measurement (checks a test or an earlier stage put there stay) and sets ``job.coverage``;
a source that covers less than the whole sphere becomes ``partial``.

=========  =====================================================  ==========================
check      what                                                   warns (fails) when
=========  =====================================================  ==========================
lens       where the dual-fisheye lens model came from: a profile  the generic model was used,
           by EXIF model or sidecar device, one an operator or     or the lens was fitted
           the site chose, or fitted from the frame; multi-shot:   from the frame (converged
           the fitted focal length                                 or not: held for review)
seam       dual-fisheye: residual seam shift after refinement,     above SEAM_LIMIT_PX per
           px of the source                                        1920 px of frame width
exposure   dual-fisheye: brightness step the lenses still show     dual-fisheye: above
           across the seam after vignetting and gains, percent     SEAM_STEP_LIMIT_PCT by 2
           (older results: the EV between the lenses);             standard errors, or the
           multi-shot: the spread of the frames' gains, EV         lenses' EVs differ by
                                                                   EXPOSURE_LIMIT_EV
frames     multi-shot: frames placed / unplaced                    a frame was not placed
coverage   covered share of the sphere and its yaw/pitch extents   (fails: nothing covered)
level      residual horizon tilt after levelling, from vertical    confident and above
           lines (:mod:`stitching.level`), degrees                 LEVEL_LIMIT_DEG
privacy    views and rolls the face search covered, faces found    (fails: the search did not
                                                                   cover the whole sphere)
=========  =====================================================  ==========================

Each check is one function of the job (``CHECKS``), so its cost can be measured alone;
on an 8K scene coverage costs about 60-90 ms; level a few ms, as it reuses the lines the
orientation found (about 0.1 s when it finds them itself); the others well under a
millisecond (they read what the stitcher reported).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

import numpy as np

from stitching.coverage import CoverageEstimate, coverage
from stitching.level import estimate_level
from stitching.sphere import pose_rotation
from workers.contract.scene import Check, Coverage
from workers.pipeline.job import Job
from workers.pipeline.orientation import structure_of
from workers.pipeline.stage import Context

SEAM_LIMIT_PX = 4.0  # per 1920 px of frame width: 0.75 deg at the rim of a 195 deg lens
EXPOSURE_LIMIT_EV = 1.0
#: Dual-fisheye: brightness step left across the seam, percent (issue 17's acceptance).
SEAM_STEP_LIMIT_PCT = 2.0
LEVEL_LIMIT_DEG = 2.0
#: An estimate at least this confident is a verdict; below it is recorded only.
LEVEL_CONFIDENCE = 0.5


class Measure:
    """Append the checks of this version to ``job.checks`` and set ``job.coverage``."""

    def done(self, job: Job, ctx: Context) -> bool:
        return job.complete

    def name(self, job: Job) -> str | None:
        return "checks"

    def run(self, job: Job, ctx: Context) -> None:
        for check in CHECKS:
            found = check(job)
            if found is not None:
                job.checks.append(found)


def lens_check(job: Job) -> Check | None:
    """Where the lens model came from (dual-fisheye), or the fitted focal (multi-shot)."""
    source = job.need_source()
    details = source.details or {}
    if source.kind == "multishot":
        focal = details.get("focal_px")
        return Check(
            name="lens", value="fitted", verdict="ok",
            message=f"lens fitted from the frames (focal length {focal} px)",
        )  # fmt: skip
    if source.kind != "dual_fisheye":
        return None
    if job.lens_note is not None and job.capture.overrides.lens is None:
        # A lens the site remembers for this camera (a profile or an approved fit).
        return Check(name="lens", value="remembered", limit="profile", verdict="ok",
                     message=job.lens_note)  # fmt: skip
    profile = str(details.get("profile", ""))
    meta = job.need_meta()
    if job.lens is not None and job.capture.overrides.lens is not None:
        how = "chosen by an operator (panodock review fix --lens)"
    elif job.lens is not None:
        how = "remembered for this camera"
    elif meta.model:
        how = f"for the EXIF model {meta.model!r}"
    else:
        device = job.sidecar.device if job.sidecar else None
        how = f"for the sidecar's device {device!r}"
    camera = " ".join(p for p in (meta.make, meta.model) if p) or (
        job.sidecar.device if job.sidecar and job.sidecar.device else "an unknown camera"
    )
    fit = details.get("lens_fit")
    if profile == "fitted" and isinstance(fit, dict):
        return _fitted_lens_check(fit, camera)
    if profile.startswith("generic"):
        return Check(
            name="lens", value="generic", limit="profile", verdict="warn",
            message=(
                f"no lens profile for {camera}: stitched with the generic model ({profile}); "
                "check the seams and the horizon before it is published"
            ),
        )  # fmt: skip
    return Check(name="lens", value="profile", limit="profile", verdict="ok",
                 message=f"lens profile {profile} {how}")  # fmt: skip


def _fitted_lens_check(fit: dict[str, object], camera: str) -> Check:
    """A lens fitted from the frame: held for review (a failed fit under every policy)."""
    fovs = fit.get("fov_deg")
    fov = (
        sorted({f"{v:g}°" for v in fovs if isinstance(v, int | float)})
        if isinstance(fovs, list)
        else []
    )
    figures = (
        f"{fit.get('projection')} {'/'.join(fov)}, "
        f"seam {fit.get('seam_shift_generic_px')} -> {fit.get('seam_shift_px')} px"
    )
    if not fit.get("converged"):
        return Check(
            name="lens", value="unfitted", limit="profile", verdict="review",
            message=(
                f"no lens profile for {camera}, and the lens could not be fitted from the "
                f"frame: {fit.get('reason')}; do not publish it as it is: give the capture a "
                "lens profile (panodock review fix --lens)"
            ),
        )  # fmt: skip
    return Check(
        name="lens", value="fitted", limit="profile", verdict="warn",
        message=(
            f"no lens profile for {camera}: lens fitted from the frame ({figures}); "
            "check the seams and the horizon before it is published"
        ),
    )  # fmt: skip


def seam_check(job: Job) -> Check | None:
    """Residual misalignment along the dual-fisheye seam after refinement."""
    source = job.need_source()
    details = source.details or {}
    shift = details.get("seam_shift_px")
    if source.kind != "dual_fisheye" or not isinstance(shift, int | float):
        return None
    width = int(source.equirect.shape[1])
    limit = round(SEAM_LIMIT_PX * width / 1920, 1)
    tiles = int(details.get("seam_tiles", 0) or 0)
    if not math.isfinite(shift) or tiles < 8:
        return Check(
            name="seam", value=None, limit=limit, verdict="ok",
            message=f"the seam could not be measured ({tiles} textured tiles along it)",
        )  # fmt: skip
    before = details.get("seam_shift_before_px")
    verdict = "warn" if shift > limit else "ok"
    said = "above" if verdict == "warn" else "within"
    return Check(
        name="seam", value=round(float(shift), 2), limit=limit, verdict=verdict,
        message=(
            f"the lenses meet {shift:.1f} px apart along the seam ({said} {limit:g} px; "
            f"{before} px before refinement, {tiles} tiles)"
        ),
    )  # fmt: skip


def exposure_check(job: Job) -> Check | None:
    """The exposure step the stitcher corrected across its seams, in EV; dual-fisheye: the
    brightness step left across the seam after vignetting and gains, percent."""
    source = job.need_source()
    details = source.details or {}
    gains = details.get("exposure_gains")
    if not isinstance(gains, list) or not gains:
        return None
    if source.kind == "dual_fisheye" and len(gains) == 2:
        g0, g1 = (np.asarray(g, dtype=np.float64) for g in gains)
        step = float(np.abs(np.log2(np.maximum(g0, 1e-6) / np.maximum(g1, 1e-6))).max())
        left = details.get("seam_step_pct")
        if isinstance(left, int | float) and math.isfinite(left):
            return _seam_step_check(float(left), step, details)
        what = "between the two lenses"
    elif source.kind == "multishot":
        g = np.asarray(gains, dtype=np.float64)
        step = float(np.log2(g.max() / max(g.min(), 1e-6)))
        what = f"across the {len(g)} positions"
    else:
        return None
    # A rotating head's frames differ by the light round the room (auto exposure); their
    # gains even that out, so the spread is a record. Two lenses of one frame should agree.
    verdict = "warn" if source.kind == "dual_fisheye" and step > EXPOSURE_LIMIT_EV else "ok"
    return Check(
        name="exposure", value=round(step, 2), limit=EXPOSURE_LIMIT_EV, verdict=verdict,
        message=f"exposure differed by {step:.2f} EV {what} and was evened out"
        + ("; look for bands at the seams" if verdict == "warn" else ""),
    )  # fmt: skip


def _seam_step_check(left: float, ev: float, details: dict[str, object]) -> Check:
    """Dual-fisheye: the brightness step the two lenses still show across the seam."""
    before = details.get("seam_step_before_pct")
    shading = details.get("vignetting")
    how = ""
    if isinstance(shading, dict):
        rims = [float(v) for v in shading.get("rim_gain") or [] if isinstance(v, int | float)]
        where = "fitted from the overlap" if shading.get("source") == "fitted" else "the profile's"
        if rims:
            how = f"; vignetting {where}, {100 * min(rims):.0f} % at the rim"
    # A step is one only when it stands above the limit by twice its standard error (the
    # spread of the tiles along the seam: parallax and reflections of near things scatter
    # them, a step from exposure or vignetting does not).
    sigma = details.get("seam_step_sigma_pct")
    sigma = float(sigma) if isinstance(sigma, int | float) and math.isfinite(sigma) else 0.0
    stepped = left - 2.0 * sigma > SEAM_STEP_LIMIT_PCT
    verdict = "warn" if stepped or ev > EXPOSURE_LIMIT_EV else "ok"
    return Check(
        name="exposure", value=round(left, 2), limit=SEAM_STEP_LIMIT_PCT, verdict=verdict,
        message=(
            f"the lenses' brightness differs by {left:.1f} ± {sigma:.1f} % across the seam "
            f"({before} % before correction; exposure differed by {ev:.2f} EV{how})"
            + ("; look for bands at the seams" if verdict == "warn" else "")
        ),
    )  # fmt: skip


def frames_check(job: Job) -> Check | None:
    """Multi-shot: how many frames were placed, naming those that were not."""
    source = job.need_source()
    if source.kind != "multishot":
        return None
    used = len(source.details.get("frames_used", []) or [])
    unplaced = source.frames_unplaced
    total = used + len(unplaced)
    rig = list(source.details.get("placed_from_rig", []) or [])
    if unplaced:
        return Check(
            name="frames", value=len(unplaced), limit=0, verdict="warn",
            message=f"{len(unplaced)} of {total} frames could not be placed: {', '.join(unplaced)}",
        )  # fmt: skip
    note = f" ({len(rig)} from the head's programme alone)" if rig else ""
    return Check(name="frames", value=0, limit=0, verdict="ok",
                 message=f"all {total} frames placed{note}")  # fmt: skip


def coverage_check(job: Job) -> Check:
    """Covered share of the sphere (levelled); sets ``job.coverage`` and ``partial``."""
    source = job.need_source()
    found = coverage(source.equirect, job.rotation)
    job.coverage = _contract(found)
    if not found.full:
        source.partial = True
    if found.fraction <= 0.0:
        return Check(name="coverage", value=0.0, verdict="fail",
                     message="no part of the sphere holds an image (all black)")  # fmt: skip
    if found.full:
        return Check(name="coverage", value=found.fraction, limit=1.0, verdict="ok",
                     message="covers the whole sphere")  # fmt: skip
    c = job.coverage
    return Check(
        name="coverage", value=found.fraction, limit=1.0, verdict="ok",
        message=(
            f"covers {found.fraction:.0%} of the sphere: "
            f"yaw {c.yaw_min_deg:g}..{c.yaw_max_deg:g}°, "
            f"pitch {c.pitch_min_deg:g}..{c.pitch_max_deg:g}°; the viewers are limited to it"
        ),
    )  # fmt: skip


def level_check(job: Job) -> Check:
    """Residual tilt of the horizon after the levelling applied (:mod:`stitching.level`).

    From the lines the orientation found in the source (:func:`structure_of`, found now if
    it did not look), so the check costs a few milliseconds; they were found before the
    privacy stage blurred faces, which moves no wall.
    """
    est = estimate_level(job.need_source().equirect, job.rotation, structure=structure_of(job))
    levelled = job.levelling
    how = ""
    if levelled.source == "image":
        how = (
            f"levelled from the image's vertical lines (pitch {levelled.pitch_deg:.1f}°, "
            f"roll {levelled.roll_deg:.1f}°, confidence {levelled.confidence or 0.0:.2f}); "
        )
    if est.tilt_deg is None:
        return Check(
            name="level", value=None, limit=LEVEL_LIMIT_DEG, verdict="ok",
            message="no vertical lines to measure the horizon by: not measured",
        )  # fmt: skip
    support = f"{est.lines} lines on the vertical, confidence {est.confidence:.2f}"
    if not est.sign_decided:
        support += ", which end is up not told by the scene"
    if est.confidence < LEVEL_CONFIDENCE:
        return Check(
            name="level", value=est.tilt_deg, limit=LEVEL_LIMIT_DEG, verdict="ok",
            message=f"{how}horizon perhaps {est.tilt_deg:.1f}° off, too unsure to say ({support})",
        )  # fmt: skip
    if est.tilt_deg <= LEVEL_LIMIT_DEG:
        return Check(
            name="level", value=est.tilt_deg, limit=LEVEL_LIMIT_DEG, verdict="ok",
            message=f"{how}level within {est.tilt_deg:.1f}° ({support})",
        )  # fmt: skip
    pitch, roll = _total_levelling(job, est.pitch_deg, est.roll_deg)
    return Check(
        name="level", value=est.tilt_deg, limit=LEVEL_LIMIT_DEG, verdict="warn",
        message=(
            f"{how}the horizon is {est.tilt_deg:.1f}° off level ({support}); "
            f"panodock review fix --pitch {pitch:.1f} --roll {roll:.1f} levels it"
        ),
    )  # fmt: skip


def privacy_check(job: Job) -> Check:
    """What the face search covered: views, rolls, faces found; fails if incomplete."""
    privacy = job.privacy
    if privacy is None:
        if job.policy == "off":
            return Check(
                name="privacy", value=None, verdict="ok",
                message="face blurring is off for this site: faces were not searched",
            )  # fmt: skip
        return Check(
            name="privacy", value=None, verdict="fail",
            message="faces were not searched although this site requires blurring",
        )  # fmt: skip
    rolls = "/".join(str(r) for r in privacy.rolls_deg) or "0"
    searched = f"{privacy.views} views at rolls {rolls}°" if privacy.views else "the sphere"
    found = f"{privacy.regions} faces found, {privacy.manual_regions} regions marked"
    if not privacy.complete:
        return Check(
            name="privacy", value=privacy.regions, verdict="fail",
            message=f"the face search did not cover the whole sphere ({searched}; {found})",
        )  # fmt: skip
    return Check(name="privacy", value=privacy.regions, verdict="ok",
                 message=f"searched {searched}: {found}, all blurred")  # fmt: skip


CHECKS: Final[tuple[Callable[[Job], Check | None], ...]] = (
    lens_check, seam_check, exposure_check, frames_check, coverage_check, level_check,
    privacy_check,
)  # fmt: skip


def _contract(found: CoverageEstimate) -> Coverage:
    return Coverage(
        fraction=found.fraction, yaw_min_deg=found.yaw_min_deg, yaw_max_deg=found.yaw_max_deg,
        pitch_min_deg=found.pitch_min_deg, pitch_max_deg=found.pitch_max_deg,
    )  # fmt: skip


def _total_levelling(job: Job, pitch_deg: float, roll_deg: float) -> tuple[float, float]:
    """The absolute pitch/roll (review fix) that levels the source: applied, then residual."""
    residual = pose_rotation(pitch_deg, roll_deg)
    total = residual if job.rotation is None else job.rotation @ residual
    up = total @ np.array([0.0, 1.0, 0.0])  # the true up, in the source's frame
    pitch = math.degrees(math.asin(float(np.clip(up[2], -1.0, 1.0))))
    return pitch, math.degrees(math.atan2(-float(up[0]), float(up[1])))
