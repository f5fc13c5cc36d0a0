"""Cameras a site knows: the lens a person approved for each, kept in its registry.

When a person approves a held dual-fisheye scene (:mod:`workers.ops.review`), the lens it
was stitched with is remembered for its camera in ``site.json`` ``cameras``
(:class:`workers.contract.site.CameraLens`), so its next frames are stitched with it and
their lens check passes, naming who approved it. Two kinds of record:

- a **profile** name (a shipped profile, or ``generic``), for the camera's EXIF make/model
  (or the site's default camera for a frame without EXIF): the metadata stage looks it up;
- a **fit**: the lens model fitted to the frame itself (``stitching.lens.profile_record``)
  when no profile existed, kept with the frame's size and image circles. A frame of the same
  make/model (or, without EXIF, of any camera of the site) matches it when it has the same
  size and its circles are found within :data:`CIRCLE_TOLERANCE` of the approved frame's
  (:func:`match_fit`, in the source stage, after decoding). The fit is validated again when
  used (:func:`fitted_profile`): site.json is data, and a broken record fails the capture
  with a reason rather than a crash.

Records are per site: another site's approval never applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pydantic import ValidationError

from stitching.circles import Circle, detect_circles
from stitching.lens import LensProfile, profile_from_record
from workers.contract.site import CameraLens, FrameGeometry, Site
from workers.sites.registry import load_site, update_site
from workers.store.base import ObjectStore

#: The name an operator gives the generic lens model (``--lens generic``).
GENERIC_LENS = "generic"
#: A frame's circles match a fit's when each centre coordinate and radius is within this
#: share of the radius. Measured with stitching.circles.detect_circles on one frame under
#: exposure changes (x0.5-1.5), noise and JPEG Q70: a Theta S rim moved up to 2.5 % of the
#: radius, a Gear 360 rim (clipped top and bottom) up to 3.7 %. Kept tight all the same: a
#: missed match only holds the frame again (and its approval adds a record for the new
#: geometry), while a false one stitches another camera with this lens, which the seam
#: refinement mostly hides (a 208 deg equisolid frame through a 196 deg equidistant fit:
#: seam 18.7 -> 0.1 px after refinement).
CIRCLE_TOLERANCE = 0.03


def remembered_lens(
    registry: Site | None, make: str | None, model: str | None, serial: str | None = None
) -> CameraLens | None:
    """The approved lens *profile* of the camera (make, model, serial), or None."""
    if registry is None:
        return None
    for record in registry.cameras:
        if record.profile is not None and record.matches(make, model, serial):
            return record
    return None


def remembered_fits(
    registry: Site | None, make: str | None, model: str | None, serial: str | None = None
) -> list[CameraLens]:
    """The approved lens fits of the camera (make, model, serial): :func:`match_fit` picks."""
    if registry is None:
        return []
    return [
        r for r in registry.cameras
        if r.fit is not None and r.frame is not None and r.matches(make, model, serial)
    ]  # fmt: skip


def lens_for(
    store: ObjectStore, site: str, make: str | None, model: str | None
) -> CameraLens | None:
    """The approved lens profile of a camera of ``site`` (the registry is read from the store)."""
    return remembered_lens(load_site(store, site), make, model)


def frame_geometry(width: int, height: int, circles: Iterable[Circle]) -> FrameGeometry:
    """A frame's size and image circles (as :func:`stitching.circles.detect_circles` found)."""
    return FrameGeometry(
        width=width, height=height,
        circles=[(round(c.x, 2), round(c.y, 2), round(c.radius, 2)) for c in circles],
    )  # fmt: skip


def fit_frame(fit: Mapping[str, Any], circles: Any = None) -> FrameGeometry:
    """The frame geometry a fit is remembered by: its frame size, and the circles detected in
    the frame (scene.json ``stitch.circles``: what :func:`fit_for_frame` compares), else the
    fitted lenses' own centres and radii.

    Raises
    ------
    ValueError
        ``fit`` is not a valid lens record for a frame size with both circles.
    """
    profile = profile_from_record(fit)
    if profile.frame_size is None:
        raise ValueError(f"lens fit {profile.name} names no frame size")
    w, h = profile.frame_size
    try:
        return FrameGeometry(width=w, height=h, circles=circles)
    except ValidationError:
        pass  # not the detected circles: the fitted ones
    fitted = []
    for lens in profile.lenses:
        if lens.centre is None or lens.radius is None:
            raise ValueError(f"lens fit {profile.name} has no circle centre or radius")
        fitted.append(Circle(lens.centre[0], lens.centre[1], lens.radius))
    return frame_geometry(w, h, fitted)


def same_frame(a: FrameGeometry, b: FrameGeometry, tolerance: float = CIRCLE_TOLERANCE) -> bool:
    """Whether ``a`` and ``b`` are frames of one camera: same size, circles within tolerance."""
    return (a.width, a.height) == (b.width, b.height) and _distance(a, b) <= tolerance


def match_fit(records: Iterable[CameraLens], frame: FrameGeometry) -> CameraLens | None:
    """The fit record whose frame ``frame`` matches (the nearest if several), or None."""
    found = [r for r in records if r.frame is not None and same_frame(r.frame, frame)]
    return min(found, key=lambda r: _distance(r.frame or frame, frame), default=None)


def fit_for_frame(
    records: Iterable[CameraLens], image: np.ndarray
) -> tuple[CameraLens, LensProfile] | None:
    """The approved fit ``image`` (a uint8 dual-fisheye frame) matches, and its profile.

    The circles are detected only when a record is for the frame's size (~0.15 s CPU at
    5760x2880). None: no record matches.

    Raises
    ------
    ValueError
        The matching record's fit is malformed (:func:`fitted_profile`).
    """
    h, w = image.shape[:2]
    sized = [r for r in records if r.frame and (r.frame.width, r.frame.height) == (w, h)]
    circles = detect_circles(image) if sized else None
    if circles is None:
        return None
    record = match_fit(sized, frame_geometry(w, h, circles))
    if record is None:
        return None
    # The fit's own notes ("fitted from the frame") would become the scene's warnings;
    # scene.json's stitch.remembered_fit says where this one came from instead.
    return record, replace(fitted_profile(record), notes=())


def memory_details(record: CameraLens) -> dict[str, Any]:
    """What scene.json ``stitch`` says of the remembered lens a frame was stitched with."""
    return {
        "camera": camera_name(record), "approved_by": record.approved_by,
        "approved_at": record.approved_at.isoformat(), "capture_id": record.capture_id,
    }  # fmt: skip


def fitted_profile(record: CameraLens) -> LensProfile:
    """The lens profile a fit record holds, validated (:func:`stitching.lens.profile_from_record`).

    Raises
    ------
    ValueError
        The record holds no fit, or a malformed one; the message names the camera.
    """
    if record.fit is None:
        raise ValueError(f"the lens remembered for {camera_name(record)} holds no fit")
    try:
        profile = profile_from_record(record.fit)
    except ValueError as exc:
        where = camera_name(record)
        raise ValueError(f"the lens fit remembered for {where} is unusable: {exc}") from exc
    if record.frame is not None and profile.frame_size != (record.frame.width, record.frame.height):
        raise ValueError(
            f"the lens fit remembered for {camera_name(record)} is for {profile.frame_size} "
            f"frames, its record for {record.frame.width}x{record.frame.height}"
        )
    return profile


def remember_lens(
    store: ObjectStore,
    site: str,
    *,
    make: str | None,
    model: str | None,
    profile: str,
    by: str,
    capture_id: str | None = None,
) -> CameraLens:
    """Record ``profile`` as the approved lens of the camera (replacing an earlier one).

    A camera with EXIF loses its fits too (the operator's profile wins); a frame without EXIF
    names the site's default camera, and the fits of the site's other cameras stay.
    """
    record = CameraLens(
        make=make, model=model, profile=profile, approved_by=by,
        approved_at=datetime.now(UTC), capture_id=capture_id,
    )  # fmt: skip
    has_exif = bool(make or model)

    def change(current: Site) -> Site:
        kept = [c for c in current.cameras
                if not (c.matches(make, model, None) and (c.profile is not None or has_exif))]
        return current.model_copy(update={"cameras": [*kept, record]})  # fmt: skip

    update_site(store, site, change)
    return record


def remember_fit(
    store: ObjectStore,
    site: str,
    *,
    make: str | None,
    model: str | None,
    fit: Mapping[str, Any],
    frame: FrameGeometry,
    by: str,
    capture_id: str | None = None,
) -> CameraLens:
    """Record the lens record ``fit`` as the approved lens of the camera that took ``frame``.

    It replaces the camera's earlier fit for the same frame geometry (and, for a camera with
    EXIF, its remembered profile); fits of other geometries stay.

    Raises
    ------
    ValueError
        ``fit`` is not a valid lens record, or is for another frame size than ``frame``.
    """
    record = CameraLens(
        make=make, model=model, profile=None, fit=dict(fit), frame=frame, approved_by=by,
        approved_at=datetime.now(UTC), capture_id=capture_id,
    )  # fmt: skip
    fitted_profile(record)  # refuse a bad record before it is stored
    has_exif = bool(make or model)

    def replaced(c: CameraLens) -> bool:
        if not c.matches(make, model, None):
            return False
        if c.frame is not None:
            return same_frame(c.frame, frame)
        return c.profile is not None and has_exif

    def change(current: Site) -> Site:
        kept = [c for c in current.cameras if not replaced(c)]
        return current.model_copy(update={"cameras": [*kept, record]})

    update_site(store, site, change)
    return record


def camera_name(record: CameraLens) -> str:
    """How messages name the camera of ``record``."""
    camera = " ".join(p for p in (record.make, record.model, record.serial) if p)
    if camera:
        return camera
    if record.frame is not None:
        return f"the site's camera of {record.frame.width}x{record.frame.height} frames"
    return "the site default camera"


def note(record: CameraLens) -> str:
    """The sentence a lens check says of a remembered lens."""
    what = record.profile or "a fitted lens model"
    return (
        f"lens {what} approved for {camera_name(record)} by "
        f"{record.approved_by} on {record.approved_at:%Y-%m-%d}"
    )


def _distance(a: FrameGeometry, b: FrameGeometry) -> float:
    """The largest difference of a centre coordinate or radius, as a share of the radius."""
    worst = 0.0
    for ca, cb in zip(a.circles, b.circles, strict=True):
        radius = max(ca[2], cb[2], 1.0)
        worst = max(worst, *(abs(u - v) / radius for u, v in zip(ca, cb, strict=True)))
    return worst
