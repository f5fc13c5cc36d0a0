"""Building a site's tour from its scenes' entries and the site registry: pure.

The document is :mod:`workers.contract.tour`; reading and writing it in the store is
:mod:`workers.sites.tour_update`. Everything but the entries is derived here on every
update: sequence interpolation (:func:`workers.sites.placement.interpolate_routes`), the
links, the lists of scenes that need placement or a heading, and the viewers' tour configs.

Links: yaw/pitch in the SOURCE panorama's own frame (yaw 0 = its centre, + right; pitch
+ up), from plan positions and headings: ``yaw = bearing(source -> target) - heading``, so a
scene due east of another, both facing north, is at yaw 90°. Pitch aims at the spot on the
floor where the target camera stood (``camera_height_m`` below the lens). A scene links to
its ``k`` nearest neighbours on the same floor within ``max_distance_m``, skipping one that
lies within ``min_separation_deg`` of a nearer link (it is reached through that one), and
every link goes both ways; links a sidecar asks for are added, across floors through both
floors' fits when the direction is not given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from workers.contract.keys import floor_ref
from workers.contract.site import Site
from workers.contract.tour import (
    LinkRequest,
    Placement,
    Tour,
    TourEntry,
    TourFloor,
    TourLink,
    TourPoiRef,
    TourScene,
)
from workers.contract.viewers import viewer_tours
from workers.sites.geo import LocalFrame, apply_matrix, bearing_deg, wrap_deg
from workers.sites.grid import Grid, grid_of
from workers.sites.placement import RouteStop, interpolate_routes
from workers.sites.poi import locate_pois, poi_id, scene_attachments


@dataclass(frozen=True, slots=True)
class LinkOptions:
    """How neighbour links are chosen (metres and degrees)."""

    k: int = 4
    max_distance_m: float = 15.0
    min_separation_deg: float = 25.0
    camera_height_m: float = 1.6


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
            grid=Grid.for_floor(f.plan.width, f.plan.height, f.scale_px_per_m, f.grid_m).record(),
            verified=registry.last_verification(floor_ref(b.id, f.id)) if registry else None,
        )
        for b, f in (registry.floors() if registry else [])
    ]
    by_id = {f.id: f for f in floors}
    ordered = [entries[name] for name in sorted(entries)]
    positions = _positions(ordered, by_id)
    scenes = [
        TourScene(
            **e.model_dump(), position=positions[e.scene], grid=_cell(positions[e.scene], by_id)
        )
        for e in ordered
    ]
    if registry is not None and registry.attachments:
        scenes = [
            s.model_copy(update={"attachments": scene_attachments(registry, s)}) for s in scenes
        ]
    links = _links(scenes, by_id, options)
    pois = [
        TourPoiRef(scene=s.scene, **(p.model_dump() | {"id": poi_id(s.scene, i, p)}))
        for s in scenes
        for i, p in enumerate(s.points_of_interest)
    ]
    tour = Tour(
        site=site,
        updated_at=datetime.now(UTC),
        floors=floors,
        scenes=scenes,
        links=links,
        points_of_interest=pois,
        pois=locate_pois(registry, scenes, by_id),
        needs_placement=[s.scene for s in scenes if not s.position.placed],
        needs_heading=[s.scene for s in scenes if s.heading_deg is None],
    )
    return tour.model_copy(update={"viewers": viewer_tours(tour)})


def _cell(position: Placement, floors: dict[str, TourFloor]) -> str | None:
    floor = floors.get(position.floor or "")
    if not position.placed or floor is None or floor.grid is None:
        return None
    return grid_of(floor.grid, floor.plan.width, floor.plan.height).cell(position.x, position.y)


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
    near = _Grid(list(spots.values()), options.max_distance_m)
    for a in spots.values():
        candidates = sorted(
            ((_neighbour(a, b, options), near.order[b.scene.scene]) for b in near.around(a)),
            key=lambda pair: (pair[0].distance_m or 0.0, pair[1]),
        )
        kept: list[TourLink] = []
        for link, _ in candidates:
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
    by_name = {s.scene: s for s in scenes}
    for scene in scenes:
        for request in scene.links:
            if request.to == scene.scene or request.to not in by_name:
                continue
            link = _explicit(scene, request, spots, options)
            chosen[(link.source, link.target)] = link
            target = by_name[request.to]
            if not any(r.to == scene.scene for r in target.links):
                back = _explicit(
                    target,
                    LinkRequest(to=scene.scene, kind=request.kind, label=request.label),
                    spots,
                    options,
                )
                chosen[(back.source, back.target)] = back
    return [chosen[k] for k in sorted(chosen)]


class _Grid:
    """The placed scenes of each floor in square cells one link range wide.

    Every scene within ``max_distance_m`` of a spot is in its cell or the eight around it,
    so choosing links costs O(N) per tour, not O(N²) (a district has thousands of scenes).
    ``order`` keeps the scenes' sorted order to break distance ties as a full scan would.
    """

    def __init__(self, spots: list[_Spot], max_distance_m: float) -> None:
        self.order = {s.scene.scene: i for i, s in enumerate(spots)}
        self.cells: dict[tuple[str, int, int], list[_Spot]] = {}
        self.max_distance_m = max_distance_m
        for spot in spots:
            self.cells.setdefault(self._cell(spot), []).append(spot)

    def _size(self, spot: _Spot) -> float:
        # A little over the range, so rounding at a cell's edge never drops a neighbour.
        return max(self.max_distance_m * spot.floor.scale_px_per_m * 1.01, 1e-6)

    def _cell(self, spot: _Spot) -> tuple[str, int, int]:
        size = self._size(spot)
        return spot.floor.id, math.floor(spot.x / size), math.floor(spot.y / size)

    def around(self, a: _Spot) -> list[_Spot]:
        """The other scenes of a's floor that may lie within range of it."""
        floor, cx, cy = self._cell(a)
        return [
            b
            for dx in (-1, 0, 1)
            for dy in (-1, 0, 1)
            for b in self.cells.get((floor, cx + dx, cy + dy), ())
            if b is not a and b.floor is a.floor
        ]


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
