"""The site tour: ``sites/<site>/tour.json`` and the per-viewer tour configs in it.

tour.json (``"schema": "panodock.tour/1"``) holds the site's floors (plan image keys, scale,
north, fit), one entry per published scene (version prefix, floor, position with its source
and accuracy, heading, route, points of interest, links asked for in the sidecar), the links
between scenes, every point of interest, the scenes that need placement, and ready tour
configs for Pannellum (``scenes`` + ``hotSpots``), Marzipano (the Marzipano Tool's
``data.js`` shape: ``linkHotspots``/``infoHotspots``, angles in radians, pitch + DOWN) and
Photo Sphere Viewer's VirtualTourPlugin (``nodes`` with ``links``, ``markers`` and the plan
position in ``data.plan``; angles in radians). Keys in them are object keys from the bucket
root, like scene.json's.

Each scene's own evidence (its :class:`TourEntry`) is stored; everything else is derived
from the entries and the site registry on every update: sequence interpolation, links,
the lists. An update is a read-modify-write of tour.json with conditional writes, retried
when another worker wrote in between, so two workers publishing scenes of one site at once
lose nothing.

Links: yaw/pitch in the SOURCE panorama's own frame (yaw 0 = its centre, + right; pitch
+ up), from plan positions and headings: ``yaw = bearing(source -> target) - heading``, so a
scene due east of another, both facing north, is at yaw 90°. Pitch aims at the spot on the
floor where the target camera stood (``camera_height_m`` below the lens).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from config.errors import ConfigError
from ingest.metadata import ImageMetadata
from ingest.sidecar import Sidecar
from workers.contract.keys import current_key, tour_key
from workers.contract.scene import CurrentPointer, SceneManifest
from workers.sites.geo import LocalFrame, apply_matrix, bearing_deg, wrap_deg
from workers.sites.placement import Placement, RouteStop, interpolate_routes, place
from workers.sites.registry import FitRecord, PlanImage, Site, floor_ref, load_site
from workers.sites.tour_viewers import viewer_tours
from workers.store.base import ObjectStore
from workers.store.conditional import update_object

log = logging.getLogger(__name__)

TOUR_SCHEMA: Final = "panodock.tour/1"
_ATTEMPTS: Final = 40

HeadingSource = Literal["sidecar", "gpano", "manual", "none"]


@dataclass(frozen=True, slots=True)
class LinkOptions:
    """How neighbour links are chosen (metres and degrees)."""

    k: int = 4
    max_distance_m: float = 15.0
    min_separation_deg: float = 25.0
    camera_height_m: float = 1.6


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TourPoi(_Model):
    """A point of interest in a scene; angles in the scene's own frame, degrees."""

    kind: str = Field(description="e.g. exit, aed, panic_button, fire_extinguisher, shut_off.")
    label: str | None = None
    yaw_deg: float = Field(description="From the panorama centre, + right.")
    pitch_deg: float = Field(description="+ up.")


class LinkRequest(_Model):
    """A link a sidecar asks for (``"links"``), e.g. stairs to a scene on another floor."""

    to: str = Field(min_length=1, max_length=100, description="Target scene slug.")
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


class TourScene(TourEntry):
    """A scene as the tour shows it: ``position`` is the effective placement."""

    position: Placement


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


class Tour(_Model):
    """``tour.json``."""

    schema_: Literal["panodock.tour/1"] = Field(TOUR_SCHEMA, alias="schema")
    site: str
    updated_at: datetime
    floors: list[TourFloor] = Field(default_factory=list)
    scenes: list[TourScene] = Field(default_factory=list)
    links: list[TourLink] = Field(default_factory=list)
    points_of_interest: list[TourPoiRef] = Field(default_factory=list)
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
            s.scene: TourEntry.model_validate(s.model_dump(exclude={"position"}))
            for s in self.scenes
        }


# --- building an entry (called by the pipeline) --------------------------------------


def locate_scene(
    store: ObjectStore,
    site: str,
    sidecar: Sidecar | None,
    meta: ImageMetadata | None,
    *,
    max_gps_accuracy_m: float | None = None,
) -> Placement:
    """Place a scene from its sidecar and metadata against the site's registry."""
    extra = {} if max_gps_accuracy_m is None else {"max_gps_accuracy_m": max_gps_accuracy_m}
    return place(
        sidecar,
        load_site(store, site),
        exif_gps=meta.gps if meta else None,
        exif_warnings=meta.warnings if meta else (),
        **extra,
    )


def scene_metadata(placement: Placement, sidecar: Sidecar | None) -> dict[str, Any]:
    """What scene.json's ``metadata`` carries about placement and points of interest."""
    out: dict[str, Any] = {"placement": placement.model_dump(mode="json")}
    if sidecar is not None and sidecar.points_of_interest:
        out["points_of_interest"] = [
            TourPoi.model_validate(
                p.model_dump(include={"kind", "label", "yaw_deg", "pitch_deg"})
            ).model_dump(mode="json")
            for p in sidecar.points_of_interest
        ]
    return out


def tour_entry(manifest: SceneManifest, sidecar: Sidecar | None, placement: Placement) -> TourEntry:
    """The tour entry of a published scene version."""
    links: list[LinkRequest] = []
    if sidecar is not None and sidecar.model_extra and "links" in sidecar.model_extra:
        raw = sidecar.model_extra["links"]
        for item in raw if isinstance(raw, list) else []:
            try:
                links.append(LinkRequest.model_validate(item))
            except ValidationError as exc:
                log.warning("scene %s: ignoring a malformed sidecar link: %s", manifest.scene, exc)
    heading_source: HeadingSource = manifest.heading.source
    return TourEntry(
        scene=manifest.scene,
        title=(sidecar.room if sidecar and sidecar.room else None) or manifest.scene,
        version=manifest.version,
        base=manifest.base,
        manifest=f"{manifest.base}/scene.json",
        thumb=manifest.thumb.key,
        placement=placement,
        heading_deg=manifest.heading.heading_deg,
        heading_source=heading_source,
        route=sidecar.sequence.route if sidecar and sidecar.sequence else None,
        index=sidecar.sequence.index if sidecar and sidecar.sequence else None,
        points_of_interest=[
            TourPoi(kind=p.kind, label=p.label, yaw_deg=p.yaw_deg, pitch_deg=p.pitch_deg)
            for p in (sidecar.points_of_interest if sidecar else [])
        ],
        links=links,
        viewers=manifest.viewers,
        published_at=manifest.created_at,
    )


# --- updating tour.json -------------------------------------------------------------


def publish_scene_to_tour(
    store: ObjectStore, site: str, entry: TourEntry, *, options: LinkOptions | None = None
) -> Tour:
    """Add or replace a scene in the site's tour (read-modify-write, conditional).

    A placement or heading made by hand survives a republish unless the new capture brings
    a position in plan pixels or local metres (or a sidecar heading).
    """

    def change(entries: dict[str, TourEntry]) -> dict[str, TourEntry]:
        old = entries.get(entry.scene)
        new = entry
        if old is not None and old.placement.source == "manual":
            if new.placement.source not in ("plan", "local"):
                new = new.model_copy(update={"placement": old.placement})
        if old is not None and old.heading_source == "manual" and new.heading_source != "sidecar":
            new = new.model_copy(
                update={"heading_deg": old.heading_deg, "heading_source": "manual"}
            )
        return {**entries, entry.scene: new}

    return update_tour(store, site, change, options=options)


def rebuild_tour(store: ObjectStore, site: str, *, options: LinkOptions | None = None) -> Tour:
    """Rebuild tour.json from its entries and the registry (after a floor changed)."""
    return update_tour(store, site, lambda entries: entries, options=options)


def update_tour(
    store: ObjectStore,
    site: str,
    change: Callable[[dict[str, TourEntry]], dict[str, TourEntry]],
    *,
    options: LinkOptions | None = None,
) -> Tour:
    """Apply ``change`` to the tour's entries and write the rebuilt tour conditionally.

    Raises
    ------
    PreconditionFailed
        tour.json kept changing for every attempt.
    """
    built: list[Tour] = []

    def rebuild(current: bytes | None) -> bytes:
        entries = Tour.model_validate_json(current).entries() if current else {}
        built[:] = [
            build_tour(site, load_site(store, site), change(entries), options or LinkOptions())
        ]
        return built[0].to_json()

    update_object(store, tour_key(site), rebuild, attempts=_ATTEMPTS)
    return built[0]


def place_scene_by_hand(
    store: ObjectStore,
    site: str,
    scene: str,
    x: float,
    y: float,
    heading: float | None = None,
    *,
    floor: str | None = None,
    options: LinkOptions | None = None,
) -> Tour:
    """Place a published scene on a plan by hand; rewrites only tour.json.

    The scene's version (tiles and scene.json) is immutable and stays as it is: the manual
    position, heading and the viewers' north offset live in the scene's tour entry, which
    is what tour consumers read.

    Parameters
    ----------
    x, y:
        Plan pixels (x right, y down).
    heading:
        Where the panorama's centre faces ON THE PLAN, degrees clockwise from plan-up; the
        compass heading is this minus the floor's north offset. None keeps the heading.
    floor:
        Tour floor id ``<building>/<floor>``; default the scene's floor, else the site's
        only floor.

    Raises
    ------
    ConfigError
        The scene is not published, the floor is unknown, or the position is off the plan.
    """
    registry = load_site(store, site)
    if not store.exists(current_key(site, scene)):
        raise ConfigError(f"scene {scene} of site {site} is not published (no current.json)")
    pointer = CurrentPointer.model_validate_json(store.get(current_key(site, scene)))
    tour = (
        Tour.model_validate_json(store.get(tour_key(site)))
        if store.exists(tour_key(site))
        else None
    )
    known = tour.entries().get(scene) if tour else None
    floor_id = floor or (known.placement.floor if known else None)
    if floor_id is None and registry is not None and len(registry.floors()) == 1:
        b, f = registry.floors()[0]
        floor_id = floor_ref(b.id, f.id)
    target = registry.floor(floor_id) if registry and floor_id else None
    if target is None or floor_id is None:
        choices = ", ".join(floor_ref(b.id, f.id) for b, f in registry.floors()) if registry else ""
        raise ConfigError(
            f"no floor {floor_id!r} in site {site}; give --floor, one of: {choices or 'none'}"
        )
    if not target.contains(x, y):
        raise ConfigError(
            f"({x}, {y}) is off the {target.plan.width}x{target.plan.height} plan of {floor_id}"
        )
    placement = Placement(floor=floor_id, x=x, y=y, source="manual")
    compass = None if heading is None else (heading - target.north_offset_deg) % 360.0
    manifest = SceneManifest.model_validate_json(store.get(pointer.manifest))

    def change(entries: dict[str, TourEntry]) -> dict[str, TourEntry]:
        entry = entries.get(scene) or tour_entry(manifest, None, placement)
        update: dict[str, Any] = {"placement": placement}
        if compass is not None:
            viewers = {n: {**cfg, "northOffset": compass} for n, cfg in entry.viewers.items()}
            update |= {"heading_deg": compass, "heading_source": "manual", "viewers": viewers}
        return {**entries, scene: entry.model_copy(update=update)}

    return update_tour(store, site, change, options=options)


# --- building the tour (pure) --------------------------------------------------------


def build_tour(
    site: str, registry: Site | None, entries: dict[str, TourEntry], options: LinkOptions
) -> Tour:
    """The whole tour from the scenes' entries and the site registry."""
    floors = [
        TourFloor(
            id=floor_ref(b.id, f.id),
            building=b.id,
            floor=f.id,
            name=f.name,
            plan=f.plan,
            scale_px_per_m=f.scale_px_per_m,
            north_offset_deg=f.north_offset_deg,
            fit=f.fit,
        )
        for b, f in (registry.floors() if registry else [])
    ]
    by_id = {f.id: f for f in floors}
    ordered = [entries[name] for name in sorted(entries)]
    positions = _positions(ordered, by_id)
    scenes = [TourScene(**e.model_dump(), position=positions[e.scene]) for e in ordered]
    links = _links(scenes, by_id, options)
    pois = [
        TourPoiRef(scene=s.scene, **p.model_dump()) for s in scenes for p in s.points_of_interest
    ]
    tour = Tour(
        site=site,
        updated_at=datetime.now(UTC),
        floors=floors,
        scenes=scenes,
        links=links,
        points_of_interest=pois,
        needs_placement=[s.scene for s in scenes if not s.position.placed],
        needs_heading=[s.scene for s in scenes if s.heading_deg is None],
    )
    return tour.model_copy(update={"viewers": viewer_tours(tour)})


def _positions(entries: list[TourEntry], floors: dict[str, TourFloor]) -> dict[str, Placement]:
    out: dict[str, Placement] = {}
    for e in entries:
        p = e.placement
        # A floor removed from the registry (or never registered) cannot hold a position.
        out[e.scene] = (
            p
            if p.placed and p.floor in floors
            else p.model_copy(update={"x": None, "y": None, "source": "none"})
        )
    stops = []
    for e in entries:
        if e.route is None or e.index is None:
            continue
        floor = floors.get(out[e.scene].floor or "")
        scale = floor.scale_px_per_m if floor is not None else None
        stops.append(RouteStop(e.scene, e.route, e.index, out[e.scene], scale))
    out.update(interpolate_routes(stops))
    return out


@dataclass(frozen=True, slots=True)
class _Spot:
    scene: TourScene
    x: float
    y: float
    floor: TourFloor


def _links(
    scenes: list[TourScene], floors: dict[str, TourFloor], options: LinkOptions
) -> list[TourLink]:
    spots = {
        s.scene: _Spot(s, s.position.x, s.position.y, floors[s.position.floor])
        for s in scenes
        if s.position.placed
        and s.position.x is not None
        and s.position.y is not None
        and s.position.floor in floors
    }
    chosen: dict[tuple[str, str], TourLink] = {}
    for a in spots.values():
        candidates = sorted(
            (
                _neighbour(a, b, options)
                for b in spots.values()
                if b is not a and b.floor is a.floor
            ),
            key=lambda link: link.distance_m or 0.0,
        )
        kept: list[TourLink] = []
        for link in candidates:
            if link.distance_m is None or link.distance_m > options.max_distance_m:
                continue
            if len(kept) >= options.k:
                break
            # A scene behind a nearer one in the same direction is reached through it.
            if all(
                abs(wrap_deg(link.yaw_deg - k.yaw_deg)) >= options.min_separation_deg for k in kept
            ):
                kept.append(link)
        for link in kept:
            chosen[(link.source, link.target)] = link
            back = _neighbour(spots[link.target], a, options)
            chosen.setdefault((back.source, back.target), back)
    for scene in scenes:
        for request in scene.links:
            if request.to == scene.scene or request.to not in {s.scene for s in scenes}:
                continue
            link = _explicit(scene, request, spots, options)
            chosen[(link.source, link.target)] = link
            if not any(r.to == scene.scene for r in _scene(scenes, request.to).links):
                back = _explicit(
                    _scene(scenes, request.to),
                    LinkRequest(to=scene.scene, kind=request.kind, label=request.label),
                    spots,
                    options,
                )
                chosen[(back.source, back.target)] = back
    return [chosen[k] for k in sorted(chosen)]


def _scene(scenes: list[TourScene], name: str) -> TourScene:
    return next(s for s in scenes if s.scene == name)


def _neighbour(a: _Spot, b: _Spot, options: LinkOptions) -> TourLink:
    dx, dy = b.x - a.x, b.y - a.y
    distance = math.hypot(dx, dy) / a.floor.scale_px_per_m
    bearing = bearing_deg(dx, dy, a.floor.north_offset_deg)
    return TourLink(
        source=a.scene.scene,
        target=b.scene.scene,
        yaw_deg=round(wrap_deg(bearing - (a.scene.heading_deg or 0.0)), 3),
        pitch_deg=round(_pitch(distance, options), 3),
        distance_m=round(distance, 3),
    )


def _pitch(distance_m: float, options: LinkOptions) -> float:
    return -math.degrees(math.atan2(options.camera_height_m, max(distance_m, 1e-6)))


def _explicit(
    source: TourScene, request: LinkRequest, spots: dict[str, _Spot], options: LinkOptions
) -> TourLink:
    a, b = spots.get(source.scene), spots.get(request.to)
    yaw, pitch, distance, known = request.yaw_deg, request.pitch_deg, None, True
    if a is not None and b is not None and a.floor is b.floor:
        computed = _neighbour(a, b, options)
        distance = computed.distance_m
        yaw = computed.yaw_deg if yaw is None else yaw
        pitch = computed.pitch_deg if pitch is None else pitch
    elif a is not None and b is not None and yaw is None:
        east_north = _across_floors(a, b)
        if east_north is not None:
            distance = round(float(np.hypot(*east_north)), 3)
            bearing = math.degrees(math.atan2(east_north[0], east_north[1]))
            yaw = round(wrap_deg(bearing - (source.heading_deg or 0.0)), 3)
    if yaw is None:
        yaw, known = 0.0, False
    return TourLink(
        source=source.scene,
        target=request.to,
        yaw_deg=yaw,
        pitch_deg=pitch if pitch is not None else 0.0,
        distance_m=distance,
        kind=request.kind,
        label=request.label,
        direction_known=known,
    )


def _across_floors(a: _Spot, b: _Spot) -> tuple[float, float] | None:
    """(east, north) metres from a to b on different floors, through both floors' fits."""
    fa, fb = a.floor.fit, b.floor.fit
    if fa is None or fb is None:
        return None
    local_a = apply_matrix(np.linalg.inv(fa.array()), np.array([[a.x, a.y]]))[0]
    local_b = apply_matrix(np.linalg.inv(fb.array()), np.array([[b.x, b.y]]))[0]
    # Tangent planes a campus apart are parallel to well under a millimetre per metre.
    shift = LocalFrame(fa.origin_lat, fa.origin_lon).to_local([fb.origin_lat], [fb.origin_lon])[0]
    d = local_b + shift - local_a
    return float(d[0]), float(d[1])
