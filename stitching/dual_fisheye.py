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
from stitching.fisheye import DualFisheyeRemapper, geometry_for
from stitching.fisheye.fit import LensFit, LensFits
from stitching.fisheye.vignetting import fit_vignetting
from stitching.frames import StitchResult
from stitching.lens import LensProfile, find_profile, profile_record

_REMAPPER = DualFisheyeRemapper()
_LENS_FITS = LensFits()


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
    lens_fits: LensFits | None = None,
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
    lens_fits:
        Lens fits kept for cameras without a profile (see
        :func:`stitching.fisheye.fit.fit_lens`); default a module-wide one.

    Returns
    -------
    StitchResult
        kind "dual_fisheye"; details hold the profile, circles, seam shift before/after
        refinement (px of the source), the correction, whether the fit was kept from an
        earlier frame, and the exposure gains. Without a profile the lens is fitted from
        the frame: profile "fitted", ``lens_fit`` its figures (converged or why not,
        residual, projection, fields of view, lens 1's rotation, seam shift with the
        generic model and after the fit, the profile record), a warning either way.

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
    fitted = None
    if chosen is None:
        who = " ".join(p for p in (make, model) if p) or "an unknown camera"
        fitted, fit_reused = _fit_lens(img, name, who, lens_fits or _LENS_FITS)
        chosen = fitted.profile
        warnings.append(_fit_warning(fitted, who))
    # Frames of one profile and size share a seam fit (found circles are per frame); a
    # fitted profile is kept per frame size and circles (stitching.fisheye.fit.LensFits).
    camera = (chosen, w, h)
    if fitted is None:  # a fitted profile's note is the fit's warning, said above
        warnings.extend(chosen.notes)
    details: dict[str, object] = {"profile": chosen.name if fitted is None else "fitted"}
    if fitted is not None:
        details["lens_fit"] = {
            **fitted.summary(),
            "reused": fit_reused,
            "profile": profile_record(fitted.profile),
        }
        details["circles"] = [
            [round(c[0], 1), round(c[1], 1), round(lens.radius or 0.0, 1)]
            for lens in fitted.profile.lenses
            if (c := lens.centre) is not None
        ]
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
        if fitted is not None:  # "before" is the generic model's, before the lens fit
            details["seam_shift_before_px"] = fitted.summary()["seam_shift_generic_px"]
    # Vignetting and the gain between the lenses, from the overlap both see: fitted when
    # the profile publishes no vignetting, the profile's figures kept when it does.
    shading = fit_vignetting(img, geometry)
    geometry, gains = shading.geometry, shading.gains
    details["exposure_gains"] = [[round(float(v), 4) for v in g] for g in gains]
    details["vignetting"] = shading.record()
    if shading.bins:  # None of them with a black or clipped overlap band
        details.update(
            seam_step_before_pct=round(shading.step_before_pct, 2),
            seam_step_pct=round(shading.step_after_pct, 2),
            seam_step_sigma_pct=round(shading.step_after_sigma_pct, 2),
        )
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


def _fit_lens(img: np.ndarray, name: str, who: str, fits: LensFits) -> tuple[LensFit, bool]:
    """The lens fitted from a frame without a profile, and whether it was kept from an
    earlier frame of the camera (see :class:`~stitching.fisheye.fit.LensFits`)."""
    h, w = img.shape[:2]
    circles = detect_circles(img)
    if circles is None:
        raise CaptureError(
            f"{name}: no lens profile for {who} and no two fisheye circles were found in "
            f"the {w}x{h} frame; give the capture a lens profile"
        )
    return fits.fit(img, circles)


def _fit_warning(fit: LensFit, who: str) -> str:
    lens = fit.profile.lenses[0]
    if not fit.converged:
        return (
            f"no lens profile for {who}, and the lens could not be fitted from the frame: "
            f"{fit.reason}"
        )
    return (
        f"no lens profile for {who}: lens fitted from the frame ({lens.projection}, "
        f"{lens.fov_deg:.1f}°, seam {fit.shift_generic_px:.1f} -> {fit.shift_px:.1f} px)"
    )
