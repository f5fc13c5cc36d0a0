"""Dual-fisheye frames: two fisheye circles side by side, stitched to a full-sphere equirect.

Failures that are the capture's fault raise :class:`config.errors.CaptureError` (or
:class:`~config.errors.QuarantineError` for unusable input) with a message naming the frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from config.errors import CaptureError, QuarantineError
from stitching.circles import detect_circles
from stitching.fisheye import DualFisheyeRemapper, exposure_gains, geometry_for, seam_strips
from stitching.frames import StitchResult
from stitching.lens import LensProfile, find_profile, generic_profile

_REMAPPER = DualFisheyeRemapper()


def stitch_dual_fisheye(
    img: np.ndarray,
    *,
    make: str | None,
    model: str | None,
    profiles: Mapping[str, LensProfile],
    profile: LensProfile | None = None,
    name: str = "frame",
    out_width: int | None = None,
    refine: bool = True,
    remapper: DualFisheyeRemapper | None = None,
) -> StitchResult:
    """Stitch a dual-fisheye frame into a full-sphere equirect.

    Parameters
    ----------
    img:
        uint8 (H, W, 3) BGR frame, two fisheye circles side by side.
    make, model:
        EXIF make and model, used to choose one of ``profiles`` when ``profile`` is None.
    profiles:
        The known lens profiles by name (:func:`stitching.lens.parse_profiles` of the
        shipped ``config/lenses.toml``, read by the caller).
    profile:
        A lens profile given per site or per capture; wins over make/model.
    name:
        The frame's file name, for messages.
    out_width:
        Width of the equirect in px (even); default the frame's width rounded down to even.
    refine:
        Run seam refinement (see :func:`stitching.fisheye.refine_seam`); a camera's fit is
        kept for its later frames, which only check it (see
        :meth:`~stitching.fisheye.DualFisheyeRemapper.fit_seam`).
    remapper:
        Map and seam-fit cache to use; default a module-wide one.

    Returns
    -------
    StitchResult
        kind "dual_fisheye"; details hold the profile, circles, seam shift before/after
        refinement (px of the source), the correction, whether the fit was kept from an
        earlier frame, and the exposure gains.

    Raises
    ------
    QuarantineError
        Not a uint8 3-channel image.
    CaptureError
        No profile, and no fisheye circles found; or the profile does not fit the frame.
    """
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3 or img.size == 0:
        raise QuarantineError(f"{name}: expected a uint8 BGR image, got {img.dtype} {img.shape}")
    h, w = img.shape[:2]
    warnings: list[str] = []
    chosen = profile or find_profile(make, model, profiles)
    if chosen is None:
        chosen = generic_profile()
        who = " ".join(p for p in (make, model) if p) or "an unknown camera"
        warnings.append(f"no lens profile for {who}; used the generic 195° model")
    # Frames of one profile and size share a seam fit (found circles are per frame).
    camera = (chosen, w, h)
    warnings.extend(chosen.notes)
    details: dict[str, object] = {"profile": chosen.name}
    if chosen.needs_circles:
        circles = detect_circles(img)
        if circles is None:
            raise CaptureError(
                f"{name}: no lens profile fits and no two fisheye circles were found in the "
                f"{w}x{h} frame; give the capture a lens profile"
            )
        lenses = tuple(
            replace(lens, centre=(c.x, c.y), radius=c.radius)
            for lens, c in zip(chosen.lenses, circles, strict=True)
        )
        chosen = replace(chosen, lenses=(lenses[0], lenses[1]), frame_size=(w, h))
        details["circles"] = [[round(c.x, 1), round(c.y, 1), round(c.radius, 1)] for c in circles]
    try:
        geometry = geometry_for(chosen, w, h)
    except ValueError as exc:
        raise CaptureError(f"{name}: {exc}") from exc
    remapper = remapper or _REMAPPER
    if refine:
        fit = remapper.fit_seam(img, geometry, camera=camera)
        geometry = fit.geometry
        details.update(
            seam_shift_before_px=round(fit.shift_before_px, 2),
            seam_shift_px=round(fit.shift_after_px, 2),
            seam_tiles=fit.tiles,
            seam_correction_deg=round(fit.rotation_deg, 3),
            seam_centre_shift_px=[round(v, 2) for v in fit.centre_shift_px],
            focal_scale=round(fit.focal_scale, 5),
            seam_fit_reused=fit.reused,
        )
    strip0, strip1, valid, _ = seam_strips(img, geometry)
    gains = exposure_gains(strip0[valid], strip1[valid])
    details["exposure_gains"] = [[round(float(v), 4) for v in g] for g in gains]
    width = (out_width or w) // 2 * 2
    equirect = remapper.render(img, geometry, width, gains=gains)
    return StitchResult(
        equirect=equirect,
        kind="dual_fisheye",
        frames_used=[name],
        frames_unplaced=[],
        warnings=warnings,
        details=details,
    )
