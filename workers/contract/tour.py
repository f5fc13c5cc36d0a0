"""The site tour, ``sites/<site>/tour.json``: floors, scenes, links, points of interest.

tour.json (``"schema": "panodock.tour/1"``) holds the site's floors (plan image keys, scale,
north, fit), one entry per published scene (version prefix, floor, position with its source
and accuracy, heading, route, points of interest, links asked for in the sidecar), the links
between scenes, every point of interest, the scenes that need placement, and ready tour
configs for Pannellum, Marzipano and Photo Sphere Viewer
(:func:`workers.contract.viewers.viewer_tours`). Keys in it are object keys from the bucket
root, like scene.json's.

Each scene's own evidence (its :class:`TourEntry`) is what is stored, one object per scene:
``sites/<site>/tour/scenes/<scene>.json`` (``tour-entry.schema.json``), written by the
scene's publisher. tour.json is the site index, derived from all the entries and the site
registry whenever it is rebuilt, a moment after a publish (:mod:`workers.sites.tour`,
:mod:`workers.sites.tour_index`); a front end reads tour.json as before.

Text: ``scenes[].title``, ``points_of_interest[].label``/``kind`` and ``links[].label``/
``kind`` are the raw text of the sidecar or file name (a text consumer shows them as text).
The ``viewers`` configs carry the same text made inert for each viewer: raw with
Pannellum's top-level ``escapeHTML: true``, HTML-escaped where Marzipano's Tool and Photo
Sphere Viewer write a field as HTML (per field: :mod:`workers.contract.viewers`).

Angles: a link's yaw/pitch are in the SOURCE panorama's own frame (yaw 0 = its centre,
+ right; pitch + up), degrees. Positions are plan pixels (x right, y down) of a floor whose
tour id is ``<building>/<floor>``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from config.names import Slug
from workers.contract.site import Attachment, FitRecord, PlanImage, Verification

TOUR_SCHEMA: Final = "panodock.tour/1"

PlacementSource = Literal["manual", "plan", "local", "gps", "sequence", "none"]
HeadingSource = Literal["sidecar", "gpano", "manual", "none"]


class Placement(BaseModel):
    """A scene's position on a floor plan and how it was obtained."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    floor: str | None = Field(None, description="Tour floor id '<building>/<floor>'.")
    x: float | None = Field(None, description="Plan pixels from the left edge.")
    y: float | None = Field(None, description="Plan pixels from the top edge.")
    source: PlacementSource = "none"
    accuracy_m: float | None = Field(
        None, description="Expected horizontal error, metres; None when given exactly."
    )
    notes: list[str] = Field(default_factory=list, description="Why earlier sources were not used.")

    @property
    def placed(self) -> bool:
        return self.x is not None and self.y is not None and self.floor is not None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PoiGiven(_Model):
    """A position a sidecar gives for a point of interest, as written (resolved by the tour)."""

    frame: Literal["plan", "local", "wgs84"]
    x: float | None = Field(None, description="frame plan: plan pixels from the left.")
    y: float | None = Field(None, description="frame plan: plan pixels from the top.")
    x_m: float | None = Field(None, description="frame local: metres to plan-right.")
    y_m: float | None = Field(None, description="frame local: metres to plan-up.")
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None


class TourPoi(_Model):
    """A point of interest in a scene; angles in the scene's own frame, degrees."""

    kind: str = Field(description="As written; the catalogue (config/poi.py) has the symbols.")
    label: str | None = None
    yaw_deg: float = Field(description="From the panorama centre, + right.")
    pitch_deg: float = Field(description="+ up.")
    id: str | None = Field(
        None, description="Names the same thing seen from several scenes (triangulated)."
    )
    number: str | None = Field(None, description="Door, stairwell, room number...")
    position: PoiGiven | None = Field(None, description="Where the sidecar says it is.")
    notes: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)


PoiSource = Literal["manual", "plan", "local", "gps", "triangulated", "none"]


class PoiPlacement(_Model):
    """Where a point of interest is on its floor, how that was found and how good it is."""

    floor: str | None = Field(None, description="Tour floor id '<building>/<floor>'.")
    x: float | None = Field(None, description="Plan pixels from the left edge.")
    y: float | None = Field(None, description="Plan pixels from the top edge.")
    source: PoiSource = "none"
    accuracy_m: float | None = Field(
        None, description="Expected horizontal error, metres; None when given exactly."
    )
    residual_m: float | None = Field(
        None, description="Triangulated: RMS distance of the bearings from the point, metres."
    )
    grid: str | None = Field(None, description="Map grid cell, e.g. 'C4'.")
    notes: list[str] = Field(default_factory=list, description="Why it is (un)placed so.")

    @property
    def placed(self) -> bool:
        return self.x is not None and self.y is not None and self.floor is not None


class PoiSighting(_Model):
    """A scene that sees a point of interest, and where in its panorama."""

    scene: str
    yaw_deg: float
    pitch_deg: float


class TourPlacedPoi(_Model):
    """A point of interest once (merged by ``id`` over scenes and hand placements)."""

    id: str
    kind: str = Field(description="As written.")
    catalogue_kind: str = Field(description="The catalogue's kind id, or 'other'.")
    label: str | None = None
    number: str | None = None
    notes: str | None = None
    position: PoiPlacement
    scenes: list[PoiSighting] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)


class FloorGrid(_Model):
    """A floor's map grid: letters across, numbers down, A1 at the plan's top-left corner."""

    cell_m: float
    cell_px: float
    columns: int
    rows: int
    column_labels: list[str]


class LinkRequest(_Model):
    """A link a sidecar asks for (``"links"``), e.g. stairs to a scene on another floor."""

    to: Slug = Field(description="Target scene slug.")
    kind: str = Field("link", max_length=100, description="e.g. stairs, lift, door.")
    label: str | None = Field(None, max_length=200)
    yaw_deg: float | None = Field(None, description="Direction in this panorama, if known.")
    pitch_deg: float | None = None


class TourEntry(_Model):
    """One published scene as its own evidence says (what a publish or a placement writes)."""

    scene: str
    title: str
    version: str
    base: str = Field(description="Key prefix of the live version.")
    manifest: str = Field(description="Key of its scene.json.")
    thumb: str
    placement: Placement = Field(description="From the scene itself or by hand (not sequence).")
    heading_deg: float | None = Field(
        None, description="Compass heading of the panorama centre, clockwise from true north."
    )
    heading_source: HeadingSource = "none"
    route: str | None = None
    index: int | None = None
    points_of_interest: list[TourPoi] = Field(default_factory=list)
    links: list[LinkRequest] = Field(default_factory=list)
    viewers: dict[str, dict[str, Any]] = Field(description="The scene.json viewer configs.")
    published_at: datetime
    notes: str | None = Field(None, description="The sidecar's notes.")
    attachments: list[Attachment] = Field(default_factory=list)
    attachment_notes: list[str] = Field(
        default_factory=list, description="Attachments the sidecar named that were refused, why."
    )


class TourScene(TourEntry):
    """A scene as the tour shows it: ``position`` is the effective placement."""

    position: Placement
    grid: str | None = Field(None, description="Map grid cell of its position, e.g. 'C4'.")


class TourLink(_Model):
    """A link from one scene to another, in the source panorama's frame."""

    source: str
    target: str
    yaw_deg: float
    pitch_deg: float
    distance_m: float | None = None
    kind: str = Field("neighbour", description="'neighbour' or the sidecar's kind (stairs...).")
    label: str | None = None
    direction_known: bool = Field(True, description="False: placed at yaw 0, fix by hand.")


class TourPoiRef(TourPoi):
    """A point of interest with its scene."""

    scene: str


class TourFloor(_Model):
    """A floor as a viewer needs it."""

    id: str = Field(description="'<building>/<floor>'.")
    building: str
    floor: str
    name: str | None = None
    plan: PlanImage
    scale_px_per_m: float
    north_offset_deg: float
    fit: FitRecord | None = None
    grid: FloorGrid | None = None
    verified: Verification | None = Field(None, description="The last walkthrough.")


class Tour(_Model):
    """``tour.json``."""

    schema_: Literal["panodock.tour/1"] = Field(TOUR_SCHEMA, alias="schema")
    site: str
    updated_at: datetime
    floors: list[TourFloor] = Field(default_factory=list)
    scenes: list[TourScene] = Field(default_factory=list)
    links: list[TourLink] = Field(default_factory=list)
    points_of_interest: list[TourPoiRef] = Field(default_factory=list)
    pois: list[TourPlacedPoi] = Field(
        default_factory=list,
        description="Every point of interest once, with its plan position and grid cell.",
    )
    needs_placement: list[str] = Field(default_factory=list)
    needs_heading: list[str] = Field(
        default_factory=list, description="Scenes with no known heading (links assume 0°)."
    )
    viewers: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True, indent=2).encode()

    def entries(self) -> dict[str, TourEntry]:
        """The stored evidence of every scene."""
        return {
            s.scene: TourEntry.model_validate(s.model_dump(exclude={"position", "grid"}))
            for s in self.scenes
        }
