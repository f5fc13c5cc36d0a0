"""``SITE.geojson``: the site as an RFC 7946 FeatureCollection, WGS84, longitude first.

Features, each with a ``kind`` property:

- ``floor``: a floor's footprint, the plan image's four corners through its control-point fit
  (exterior ring counter-clockwise, as RFC 7946 asks), with its grid and last walkthrough;
- ``grid_cell``: each cell of the floor's map grid (``label`` ``A1``...), for a dispatcher's
  GIS to show the same grid as the printed map;
- ``scene``: where each placed scene stands (``scene``, ``floor``, ``grid``, ``heading_deg``,
  ``thumbnail`` and ``viewer`` links, :mod:`workers.export.links`);
- every placed point of interest: ``kind`` from the catalogue (:mod:`config.poi`; the kind as
  written is ``kind_as_written``), ``label``, ``number``, ``floor``, ``grid``, the ``scenes`` that
  see it with yaw/pitch, ``position_source`` and ``accuracy_m``, ``attachments`` (title, link).

A floor without a fit cannot be put on the globe: its features go to a second collection in
plan pixels (x right, y down from the plan's top-left), which RFC 7946 does not allow in a
``.geojson`` file; :func:`build` returns it apart and the export writes it as
``SITE-plan-coordinates.json``, saying so in its ``coordinates`` member. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from config.poi import BY_ID
from workers.contract.site import Attachment
from workers.contract.tour import Tour, TourFloor
from workers.export.links import Links
from workers.export.wgs84 import plan_to_wgs84
from workers.sites.grid import grid_of

_DIGITS = 7  # ~1 cm


def build(tour: Tour, links: Links) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The WGS84 collection and, when some floor has no fit, the plan-pixel one."""
    world: list[dict[str, Any]] = []
    plan: list[dict[str, Any]] = []
    for floor in tour.floors:
        features = _floor_features(tour, floor, links)
        if floor.fit is None:
            plan.extend(f for f, _ in features)
        else:
            world.extend(_to_world(f, pts, floor) for f, pts in features)
    collection = {"type": "FeatureCollection", "features": world}
    if not plan:
        return collection, None
    return collection, {
        "type": "FeatureCollection",
        "coordinates": "plan pixels of each floor's image (x right, y down from the top-left); "
        "NOT WGS84: these floors have no control-point fit",
        "floors": [f.id for f in tour.floors if f.fit is None],
        "features": plan,
    }


def _to_world(feature: dict[str, Any], pts: np.ndarray, floor: TourFloor) -> dict[str, Any]:
    assert floor.fit is not None
    lonlat = np.round(plan_to_wgs84(floor.fit, pts), _DIGITS).tolist()
    geometry = feature["geometry"]
    if geometry["type"] == "Point":
        geometry["coordinates"] = lonlat[0]
    else:
        ring = lonlat + [lonlat[0]]
        if _signed_area(ring) < 0:
            ring.reverse()
        geometry["coordinates"] = [ring]
    return feature


def _signed_area(ring: list[list[float]]) -> float:
    return 0.5 * sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(ring, ring[1:], strict=False))


def _feature(geometry_type: str, pts: np.ndarray, props: dict[str, Any]) -> dict[str, Any]:
    coords: Any = (
        pts[0].tolist() if geometry_type == "Point" else [pts.tolist() + [pts[0].tolist()]]
    )
    return {
        "type": "Feature",
        "geometry": {"type": geometry_type, "coordinates": coords},
        "properties": props,
    }


def _floor_features(
    tour: Tour, floor: TourFloor, links: Links
) -> list[tuple[dict[str, Any], np.ndarray]]:
    w, h = floor.plan.width, floor.plan.height
    out = []
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
    verified = floor.verified
    out.append(
        (
            _feature(
                "Polygon",
                corners,
                {
                    "kind": "floor",
                    "floor": floor.id,
                    "building": floor.building,
                    "name": floor.name or floor.floor,
                    "grid_cell_m": floor.grid.cell_m if floor.grid else None,
                    "verified_on": verified.date.isoformat() if verified else None,
                    "verified_by": verified.by if verified else None,
                },
            ),
            corners,
        )
    )
    if floor.grid is not None:
        grid = grid_of(floor.grid, w, h)
        xs, ys = grid.column_edges(), grid.row_edges()
        for row in range(len(ys) - 1):
            for col in range(len(xs) - 1):
                cell = np.array(
                    [
                        [xs[col], ys[row]],
                        [xs[col + 1], ys[row]],
                        [xs[col + 1], ys[row + 1]],
                        [xs[col], ys[row + 1]],
                    ],
                    float,
                )
                label = grid.cell((xs[col] + xs[col + 1]) / 2, (ys[row] + ys[row + 1]) / 2)
                out.append(
                    (
                        _feature(
                            "Polygon",
                            cell,
                            {"kind": "grid_cell", "floor": floor.id, "label": label},
                        ),
                        cell,
                    )
                )
    for number, scene in enumerate(tour.scenes, start=1):
        p = scene.position
        if not p.placed or p.floor != floor.id or p.x is None or p.y is None:
            continue
        pt = np.array([[p.x, p.y]])
        out.append(
            (
                _feature(
                    "Point",
                    pt,
                    {
                        "kind": "scene",
                        "scene": scene.scene,
                        "number": number,
                        "title": scene.title,
                        "floor": floor.id,
                        "grid": scene.grid,
                        "heading_deg": scene.heading_deg,
                        "position_source": p.source,
                        "accuracy_m": p.accuracy_m,
                        "thumbnail": links.thumb(scene),
                        "viewer": links.scene(scene.scene),
                        "notes": scene.notes,
                        "attachments": _documents(scene.attachments, links),
                    },
                ),
                pt,
            )
        )
    for poi in tour.pois:
        q = poi.position
        if not q.placed or q.floor != floor.id or q.x is None or q.y is None:
            continue
        pt = np.array([[q.x, q.y]])
        kind = BY_ID[poi.catalogue_kind]
        out.append(
            (
                _feature(
                    "Point",
                    pt,
                    {
                        "kind": poi.catalogue_kind,
                        "kind_as_written": poi.kind,
                        "kind_title": kind.title,
                        "id": poi.id,
                        "label": poi.label,
                        "number": poi.number,
                        "notes": poi.notes,
                        "floor": floor.id,
                        "grid": q.grid,
                        "scenes": [s.model_dump(mode="json") for s in poi.scenes],
                        "position_source": q.source,
                        "accuracy_m": q.accuracy_m,
                        "residual_m": q.residual_m,
                        "attachments": _documents(poi.attachments, links),
                        "marker-color": kind.colour,
                        "marker-symbol": kind.code,
                    },
                ),
                pt,
            )
        )
    return out


def _documents(items: list[Attachment], links: Links) -> list[dict[str, Any]]:
    return [
        {"title": a.title, "href": links.attachment(a), "content_type": a.content_type,
         "sha256": a.sha256, "bytes": a.size}
        for a in items
    ]  # fmt: skip
