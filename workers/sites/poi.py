"""Points of interest on the plan: one per ``id``, placed from the best evidence there is.

A sidecar's point of interest is a direction (yaw, pitch) from its scene, perhaps with an
``id`` naming the same thing in other captures and a ``position``. The tour merges them by
id (one without an id is its own point, ``<scene>-<n>``) with the points placed by hand in
the site registry (:class:`workers.contract.site.SitePoi`), and places each, first source
that works wins:

1. ``manual``: ``panodock poi add|move`` (the registry).
2. ``plan`` / ``local`` / ``gps``: the sidecar's ``position`` in plan pixels, local metres or
   WGS84 (through the floor's control-point fit), as a scene's position is.
3. ``triangulated``: the bearings of two or more placed scenes with a known heading
   (:mod:`workers.sites.triangulate`), with the residual and an accuracy in metres.
4. ``none``: unplaced, with notes saying why (e.g. seen from one scene only).

Its floor is the hand placement's, else that of the scenes that see it. The kind is kept as
written; ``catalogue_kind`` is the catalogue's (:mod:`config.poi`), ``other`` with a warning
for a kind it does not know. Pure: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from config.poi import resolve_kind
from workers.contract.site import Attachment, Floor, Site, SitePoi
from workers.contract.tour import (
    PoiGiven,
    PoiPlacement,
    PoiSighting,
    TourFloor,
    TourPlacedPoi,
    TourPoi,
    TourScene,
)
from workers.sites.geo import LocalFrame, apply_matrix
from workers.sites.grid import grid_of
from workers.sites.triangulate import Ray, TriangulationRefused, triangulate

_FIELDS = set(Attachment.model_fields)


@dataclass(slots=True)
class _Group:
    id: str
    first: TourPoi
    sightings: list[tuple[TourScene, TourPoi]] = field(default_factory=list)


def poi_id(scene: str, index: int, poi: TourPoi) -> str:
    """The id of a scene's ``index``-th (0-based) point of interest."""
    return poi.id or f"{scene}-{index + 1}"


def scene_attachments(registry: Site | None, scene: TourScene) -> list[Attachment]:
    """A scene's attachments: its sidecar's and those added by hand."""
    extra = [a for a in (registry.attachments if registry else []) if a.scene == scene.scene]
    return _attachments([*scene.attachments, *extra])


def locate_pois(
    registry: Site | None, scenes: list[TourScene], floors: dict[str, TourFloor]
) -> list[TourPlacedPoi]:
    """Every point of interest of the site once, placed, sorted by id."""
    groups: dict[str, _Group] = {}
    for scene in scenes:
        for i, poi in enumerate(scene.points_of_interest):
            key = poi_id(scene.scene, i, poi)
            groups.setdefault(key, _Group(key, poi)).sightings.append((scene, poi))
    by_hand = {p.id: p for p in (registry.points_of_interest if registry else [])}
    out = []
    for key in sorted(set(groups) | set(by_hand)):
        out.append(_one(key, groups.get(key), by_hand.get(key), registry, floors))
    return out


def _one(
    key: str,
    group: _Group | None,
    hand: SitePoi | None,
    registry: Site | None,
    floors: dict[str, TourFloor],
) -> TourPlacedPoi:
    first = group.first if group else None
    kind = (hand.kind if hand and hand.kind else None) or (first.kind if first else "other")
    catalogue, warning = resolve_kind(kind)
    sightings = group.sightings if group else []
    notes: list[str] = []
    if hand is not None:
        placement = PoiPlacement(floor=hand.floor, x=hand.x, y=hand.y, source="manual")
    else:
        placement = _from_evidence(sightings, registry, floors, notes)
    floor = floors.get(placement.floor or "")
    if placement.placed and floor is not None and floor.grid is not None:
        grid = grid_of(floor.grid, floor.plan.width, floor.plan.height)
        placement = placement.model_copy(update={"grid": grid.cell(placement.x, placement.y)})
    return TourPlacedPoi(
        id=key,
        kind=kind,
        catalogue_kind=catalogue.id,
        label=(hand.label if hand and hand.label else None) or (first.label if first else None),
        number=(hand.number if hand and hand.number else None) or _first(sightings, "number"),
        notes=(hand.notes if hand and hand.notes else None) or _first(sightings, "notes"),
        position=placement,
        scenes=[
            PoiSighting(scene=s.scene, yaw_deg=p.yaw_deg, pitch_deg=p.pitch_deg)
            for s, p in sightings
        ],
        warnings=[warning] if warning else [],
        attachments=_attachments(
            [a for _, p in sightings for a in p.attachments]
            + [a for a in (registry.attachments if registry else []) if a.poi == key]
        ),
    )


def _attachments(items: list[Attachment]) -> list[Attachment]:
    """One record per file (by SHA-256), as plain :class:`Attachment`, first title wins."""
    seen: dict[str, Attachment] = {}
    for item in items:
        seen.setdefault(item.sha256, Attachment.model_validate(item.model_dump(include=_FIELDS)))
    return list(seen.values())


def _first(sightings: list[tuple[TourScene, TourPoi]], name: str) -> str | None:
    for _, poi in sightings:
        value = getattr(poi, name)
        if value:
            return str(value)
    return None


def _from_evidence(
    sightings: list[tuple[TourScene, TourPoi]],
    registry: Site | None,
    floors: dict[str, TourFloor],
    notes: list[str],
) -> PoiPlacement:
    floor_ids = [s.position.floor for s, _ in sightings if s.position.floor in floors]
    floor_id = floor_ids[0] if floor_ids else None
    if len(set(floor_ids)) > 1:
        notes.append(f"seen from scenes on floors {sorted(set(floor_ids))}; using {floor_id}")
    floor = registry.floor(floor_id) if registry is not None and floor_id else None
    if floor is None or floor_id is None:
        notes.append("none of the scenes that see it is on a registered floor")
        return PoiPlacement(source="none", notes=notes)
    for scene, poi in sightings:
        if poi.position is not None:
            found = _given(poi.position, floor, floor_id, scene.scene, notes)
            if found is not None:
                return found
    rays = [
        Ray(
            scene.scene,
            scene.position.x,
            scene.position.y,
            (scene.heading_deg + poi.yaw_deg + floor.north_offset_deg) % 360.0,
            scene.position.accuracy_m,
        )
        for scene, poi in sightings
        if scene.position.placed
        and scene.position.floor == floor_id
        and scene.position.x is not None
        and scene.position.y is not None
        and scene.heading_deg is not None
    ]
    if len(rays) < 2:
        seen = ", ".join(r.scene for r in rays) or "no scene"
        notes.append(
            f"seen from {len(rays)} placed scene(s) with a known heading ({seen}); two are "
            "needed to triangulate it: capture it from another spot, or place it "
            "(panodock poi move)"
        )
        return PoiPlacement(floor=floor_id, source="none", notes=notes)
    try:
        fixed = triangulate(rays, floor.scale_px_per_m)
    except TriangulationRefused as exc:
        notes.append(f"not triangulated: {exc}")
        return PoiPlacement(floor=floor_id, source="none", notes=notes)
    if not floor.contains(fixed.x_px, fixed.y_px):
        notes.append(
            f"the bearings meet at plan ({fixed.x_px:.0f}, {fixed.y_px:.0f}) px, off the "
            f"{floor.plan.width}x{floor.plan.height} plan; not placed"
        )
        return PoiPlacement(floor=floor_id, source="none", notes=notes)
    notes.append(
        f"triangulated from {len(rays)} scenes ({', '.join(r.scene for r in rays)}), "
        f"widest angle {fixed.angle_deg:.0f}°"
    )
    return PoiPlacement(
        floor=floor_id,
        x=round(fixed.x_px, 2),
        y=round(fixed.y_px, 2),
        source="triangulated",
        accuracy_m=round(fixed.accuracy_m, 3),
        residual_m=round(fixed.residual_m, 3),
        notes=notes,
    )


def _given(
    given: PoiGiven, floor: Floor, floor_id: str, scene: str, notes: list[str]
) -> PoiPlacement | None:
    accuracy = None
    if given.frame == "plan" and given.x is not None and given.y is not None:
        x, y = given.x, given.y
    elif given.frame == "local" and given.x_m is not None and given.y_m is not None:
        x, y = floor.local_to_plan(given.x_m, given.y_m)
    elif given.frame == "wgs84" and given.lat is not None and given.lon is not None:
        fit = floor.fit
        if fit is None:
            notes.append(f"{scene}: a WGS84 position, but {floor_id} has no control-point fit")
            return None
        local = LocalFrame(fit.origin_lat, fit.origin_lon).to_local([given.lat], [given.lon])
        x, y = (float(v) for v in apply_matrix(fit.array(), local)[0])
        if given.accuracy_m is not None:
            accuracy = math.hypot(given.accuracy_m, fit.loo_rms_px / fit.scale_px_per_m)
    else:
        return None
    if not floor.contains(x, y):
        notes.append(
            f"{scene}: its {given.frame} position maps to plan ({x:.0f}, {y:.0f}) px, off the "
            f"{floor.plan.width}x{floor.plan.height} plan; ignoring it"
        )
        return None
    source = "gps" if given.frame == "wgs84" else given.frame
    return PoiPlacement(floor=floor_id, x=x, y=y, source=source, accuracy_m=accuracy, notes=notes)
