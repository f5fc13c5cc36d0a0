"""The site registry, ``sites/<site>/site.json``: sites -> buildings -> floors.

``"schema": "panodock.site/1"``. Each floor names its plan image
(``sites/<site>/plans/<building>/<floor>.<ext>``, :func:`workers.contract.keys.plan_key`), its
scale and north, its ground control points and the accepted fit. Reading and writing the
registry is :mod:`workers.sites.registry`; the fits are :mod:`workers.sites.geo`.

A floor's plan image has pixel axes x to the right and y DOWN. ``scale_px_per_m`` is plan
pixels per metre; ``north_offset_deg`` is the angle clockwise from plan-up to true north.
Ground control points tie plan pixels to WGS84 latitude/longitude; the accepted fit maps
local metres — east/north on the tangent plane at the control points' centroid,
``fit.origin_lat``/``origin_lon`` — to plan pixels.

A capture's sidecar may also give a position in the floor's **local frame**: metres with
x to plan-right and y to plan-up (a CAD drawing's axes), from ``local_origin_px`` (default
the plan's bottom-left corner), scaled by ``scale_px_per_m``.

Names: the site id is a slug (:data:`config.names.Slug`, stored lower-case, so the
registry of ``North-Campus`` is ``sites/north-campus/site.json``, where the captures of
``North-Campus`` look); building and floor ids keep their case (:data:`config.names.KeyPart`).

``visibility`` is ``"private"`` unless the site opted in to ``"public"``: only then may its
scenes, tour and plans be read without credentials (the S3 bucket policy,
:mod:`workers.store.s3`). A registry written before the field existed is private.
"""

from __future__ import annotations

from datetime import date as date_type
from datetime import datetime
from typing import Any, Final, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, FiniteFloat

from config.names import KeyPart, Slug
from workers.contract.keys import floor_ref

SITE_SCHEMA: Final = "panodock.site/1"
#: A site's visibility: private (the default) or public (``panodock site visibility``).
Visibility = Literal["private", "public"]
VISIBILITIES: Final = ("private", "public")
#: When a site's scenes wait for a person (``panodock review policy``; see workers.ops.review).
ReviewPolicy = Literal["never", "on_warning", "always"]
REVIEW_POLICIES: Final = ("never", "on_warning", "always")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ControlPoint(_Model):
    """A ground control point: a spot on the plan and its WGS84 position."""

    name: str = Field(min_length=1, max_length=100)
    x: float = Field(description="Plan pixels from the left edge.")
    y: float = Field(description="Plan pixels from the top edge.")
    lat: float = Field(ge=-90, le=90, description="Degrees, north positive.")
    lon: float = Field(ge=-180, le=180, description="Degrees, east positive.")


class FitRecord(_Model):
    """The accepted fit of a floor: local metres -> plan pixels (see module docstring)."""

    model: Literal["similarity", "affine", "homography"]
    matrix: list[list[float]] = Field(
        description="3x3 homogeneous; [x, y, w] = matrix @ [east_m, north_m, 1]."
    )
    origin_lat: float = Field(description="Latitude of the local frame's origin, degrees.")
    origin_lon: float = Field(description="Longitude of the local frame's origin, degrees.")
    rms_px: float
    loo_rms_px: float = Field(description="Leave-one-out RMS, plan pixels.")
    residuals_px: dict[str, float] = Field(description="Per control point, plan pixels.")
    loo_residuals_px: dict[str, float]
    scale_px_per_m: float = Field(description="As measured by the fit.")
    north_offset_deg: float = Field(description="As measured by the fit.")

    def array(self) -> np.ndarray:
        """The matrix as a (3, 3) float64 array."""
        return np.asarray(self.matrix, dtype=float)


class PlanImage(_Model):
    """A stored plan image."""

    key: str
    width: int = Field(gt=0)
    height: int = Field(gt=0)


class Floor(_Model):
    """One floor: its plan, scale, north and the fit that ties it to the world."""

    id: KeyPart
    name: str | None = None
    plan: PlanImage
    axes: Literal["x-right-y-down"] = "x-right-y-down"
    scale_px_per_m: float = Field(gt=0, description="Plan pixels per metre.")
    north_offset_deg: float = Field(
        ge=0, lt=360, description="Clockwise from plan-up to true north, degrees."
    )
    local_origin_px: tuple[float, float] | None = Field(
        None,
        description="Plan pixel of the local frame's origin; default the bottom-left corner.",
    )
    control_points: list[ControlPoint] = Field(default_factory=list)
    fit: FitRecord | None = None
    grid_m: float = Field(
        10.0, gt=0, le=1000, description="Cell size of the floor's map grid, metres."
    )

    def local_to_plan(self, x_m: float, y_m: float) -> tuple[float, float]:
        """A local-frame position (x to plan-right, y to plan-up, metres) -> plan pixels."""
        ox, oy = self.local_origin_px or (0.0, float(self.plan.height))
        return ox + x_m * self.scale_px_per_m, oy - y_m * self.scale_px_per_m

    def contains(self, x: float, y: float) -> bool:
        """Whether a plan position lies on the plan image."""
        return 0 <= x <= self.plan.width and 0 <= y <= self.plan.height


class Attachment(_Model):
    """A document on the map (PDF or image), archived by its SHA-256 like an original."""

    title: str = Field(min_length=1, max_length=200)
    name: str = Field(description="File name, as given.")
    sha256: str
    key: str = Field(description="Published copy, sites/<site>/attachments/<sha256>/<name>.")
    original: str = Field(description="Archived original, raw/<sha256>/<name> (private).")
    content_type: str
    size: int = Field(ge=0, description="Bytes.")


class SiteAttachment(Attachment):
    """An attachment added by hand (``panodock poi attach``) to a point or a scene."""

    poi: str | None = Field(None, description="Point of interest id it belongs to.")
    scene: str | None = Field(None, description="Scene it belongs to.")


class SitePoi(_Model):
    """A point of interest placed on a plan by hand (``panodock poi add|move``).

    Its ``id`` may be one a sidecar names: the hand-made position then wins over the
    sidecar's or the triangulated one (kind, label and number too, where given).
    """

    id: Slug
    floor: str = Field(description="Tour floor id '<building>/<floor>'.")
    x: float = Field(description="Plan pixels from the left edge.")
    y: float = Field(description="Plan pixels from the top edge.")
    kind: str | None = Field(None, max_length=100, description="A catalogue kind (config/poi.py).")
    label: str | None = Field(None, max_length=500)
    number: str | None = Field(None, max_length=100)
    notes: str | None = Field(None, max_length=5000)


class Verification(_Model):
    """A walkthrough: a person walked the floor and checked its map (``panodock site verify``)."""

    floor: str = Field(description="Tour floor id '<building>/<floor>'.")
    by: str = Field(min_length=1, max_length=200)
    date: date_type = Field(description="The day of the walkthrough.")
    note: str | None = Field(None, max_length=2000)
    recorded_at: datetime


class FrameGeometry(_Model):
    """The frame a fitted lens was approved on: its size and the image circles found in it."""

    width: int = Field(gt=0, le=100_000, description="px")
    height: int = Field(gt=0, le=100_000, description="px")
    circles: list[tuple[FiniteFloat, FiniteFloat, FiniteFloat]] = Field(
        min_length=2, max_length=2,
        description="(x, y, radius) px of each lens's image circle, in lens order.",
    )  # fmt: skip


class CameraLens(_Model):
    """A camera's lens as a person approved it, so its next frames go straight through.

    The camera is matched by make, model and serial (None matches a frame that carries none:
    all three None is the site's default camera, a frame without EXIF). ``profile`` names a
    shipped lens profile (``config/lenses.toml``, or ``generic``). Or ``fit`` is a lens model
    fitted to this very camera and approved, with the ``frame`` geometry it applies to: a
    frame of the camera matches it when it has the same size and its circles are found where
    the approved frame's were (:mod:`workers.sites.cameras`).
    """

    make: str | None = None
    model: str | None = None
    serial: str | None = None
    profile: str | None = Field(None, description="Lens profile name; None with a fit.")
    fit: dict[str, Any] | None = Field(
        None,
        description="A lens model fitted to this camera: the lens record of "
        "stitching.lens.profile_record (name, frame_size, two lenses), validated on use.",
    )
    frame: FrameGeometry | None = Field(
        None, description="With a fit: the frame size and image circles it is matched by."
    )
    approved_by: str = Field(min_length=1, max_length=200)
    approved_at: datetime
    capture_id: str | None = Field(None, description="The capture whose approval taught it.")

    def matches(self, make: str | None, model: str | None, serial: str | None) -> bool:
        """Whether a frame from (make, model, serial) is this camera (case-insensitive)."""
        mine = (self.make, self.model, self.serial)
        theirs = (make, model, serial)
        return all(_same(a, b) for a, b in zip(mine, theirs, strict=True))


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").strip().lower() == (b or "").strip().lower()


class Building(_Model):
    """A building and its floors."""

    id: KeyPart
    name: str | None = None
    floors: list[Floor] = Field(default_factory=list)


class Site(_Model):
    """``site.json``: a site's buildings and floors."""

    schema_: Literal["panodock.site/1"] = Field(SITE_SCHEMA, alias="schema")
    id: Slug
    name: str | None = None
    visibility: Visibility = Field(
        "private",
        description="Who may read the site's published scenes, tour and plans: 'private' "
        "(credentials or a share link) or 'public' (anyone, e.g. an open-day tour).",
    )
    review: ReviewPolicy | None = Field(
        None,
        description="When its scenes wait for a person before going live; None: the "
        "service's PANODOCK_REVIEW.",
    )
    cameras: list[CameraLens] = Field(
        default_factory=list, description="Lens choices a person approved, per camera."
    )
    buildings: list[Building] = Field(default_factory=list)
    points_of_interest: list[SitePoi] = Field(
        default_factory=list, description="Points of interest placed by hand."
    )
    verifications: list[Verification] = Field(
        default_factory=list, description="Walkthrough records, oldest first."
    )
    attachments: list[SiteAttachment] = Field(
        default_factory=list, description="Documents attached by hand to points or scenes."
    )

    def last_verification(self, ref: str) -> Verification | None:
        """The latest walkthrough of the floor ``<building>/<floor>``, or None."""
        found = [v for v in self.verifications if v.floor == ref]
        return max(found, key=lambda v: (v.date, v.recorded_at)) if found else None

    def floors(self) -> list[tuple[Building, Floor]]:
        """Every floor with its building, in registry order."""
        return [(b, f) for b in self.buildings for f in b.floors]

    def floor(self, ref: str) -> Floor | None:
        """The floor with tour id ``<building>/<floor>``, or None."""
        for building, floor in self.floors():
            if floor_ref(building.id, floor.id) == ref:
                return floor
        return None

    def find_floor(self, building: str | None, floor: str | None) -> str | None:
        """The tour id of the floor a sidecar names, or None.

        Building and floor match an id or a name. With no floor named, a site of exactly one
        floor means that floor; a floor named without a building must be unambiguous.
        """
        candidates = self.floors()
        if floor is None:
            if building is None and len(candidates) == 1:
                b, f = candidates[0]
                return floor_ref(b.id, f.id)
            return None
        matches = [
            (b, f)
            for b, f in candidates
            if floor in (f.id, f.name) and (building is None or building in (b.id, b.name))
        ]
        if len(matches) != 1:
            return None
        b, f = matches[0]
        return floor_ref(b.id, f.id)

    def with_floor(self, building: str, floor: Floor) -> Site:
        """A copy with ``floor`` added to (or replacing its namesake in) ``building``."""
        buildings = [b.model_copy(deep=True) for b in self.buildings]
        target = next((b for b in buildings if b.id == building), None)
        if target is None:
            target = Building(id=building)
            buildings.append(target)
        target.floors = [f for f in target.floors if f.id != floor.id] + [floor]
        return self.model_copy(update={"buildings": buildings})

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True, indent=2).encode()
