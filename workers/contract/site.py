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

from typing import Final, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from config.names import KeyPart, Slug
from workers.contract.keys import floor_ref

SITE_SCHEMA: Final = "panodock.site/1"
#: A site's visibility: private (the default) or public (``panodock site visibility``).
Visibility = Literal["private", "public"]
VISIBILITIES: Final = ("private", "public")


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

    def local_to_plan(self, x_m: float, y_m: float) -> tuple[float, float]:
        """A local-frame position (x to plan-right, y to plan-up, metres) -> plan pixels."""
        ox, oy = self.local_origin_px or (0.0, float(self.plan.height))
        return ox + x_m * self.scale_px_per_m, oy - y_m * self.scale_px_per_m

    def contains(self, x: float, y: float) -> bool:
        """Whether a plan position lies on the plan image."""
        return 0 <= x <= self.plan.width and 0 <= y <= self.plan.height


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
    buildings: list[Building] = Field(default_factory=list)

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
