"""Per-viewer tour configs built from ``tour.json``: Pannellum, Marzipano, Photo Sphere Viewer.

Pure functions of a :class:`workers.sites.tour.Tour`; every key they reference is one the tour
already names (tested in tests/sites).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from workers.sites.geo import wrap_deg

if TYPE_CHECKING:  # annotations only: workers.sites.tour imports this module
    from workers.sites.tour import Tour, TourLink


def viewer_tours(tour: Tour) -> dict[str, dict[str, Any]]:
    """Pannellum, Marzipano and Photo Sphere Viewer tour configs for a built tour."""
    links: dict[str, list[TourLink]] = {s.scene: [] for s in tour.scenes}
    for link in tour.links:
        links[link.source].append(link)
    headings = {s.scene: s.heading_deg or 0.0 for s in tour.scenes}
    first = tour.scenes[0].scene if tour.scenes else None
    return {
        "pannellum": _pannellum(tour, links, headings, first),
        "marzipano": _marzipano(tour, links, headings),
        "photo_sphere_viewer": _psv(tour, links, headings, first),
    }


def _pannellum(
    tour: Tour, links: dict[str, list[TourLink]], headings: dict[str, float], first: str | None
) -> dict[str, Any]:
    scenes = {}
    for s in tour.scenes:
        config = dict(s.viewers.get("pannellum", {}))
        hotspots: list[dict[str, Any]] = [
            {
                "type": "scene",
                "sceneId": link.target,
                "yaw": link.yaw_deg,
                "pitch": link.pitch_deg,
                "text": link.label or _title(tour, link.target),
                # Arrive facing the way we walked.
                "targetYaw": round(
                    wrap_deg(link.yaw_deg + headings[s.scene] - headings[link.target]), 3
                ),
            }
            for link in links[s.scene]
        ]
        hotspots += [
            {
                "type": "info",
                "yaw": p.yaw_deg,
                "pitch": p.pitch_deg,
                "text": p.label or p.kind,
                "cssClass": f"poi poi-{p.kind}",
            }
            for p in s.points_of_interest
        ]
        scenes[s.scene] = {
            **config,
            "title": s.title,
            "northOffset": headings[s.scene],
            "hotSpots": hotspots,
        }
    return {"default": {"firstScene": first, "sceneFadeDuration": 1000}, "scenes": scenes}


def _marzipano(
    tour: Tour, links: dict[str, list[TourLink]], headings: dict[str, float]
) -> dict[str, Any]:
    # Marzipano: radians, pitch + down (BRIEF.md).
    scenes = []
    for s in tour.scenes:
        config = dict(s.viewers.get("marzipano", {}))
        scenes.append(
            {
                "id": s.scene,
                "name": s.title,
                **config,
                "northOffset": headings[s.scene],
                "initialViewParameters": {"yaw": 0.0, "pitch": 0.0, "fov": math.pi / 2},
                "linkHotspots": [
                    {
                        "yaw": math.radians(link.yaw_deg),
                        "pitch": -math.radians(link.pitch_deg),
                        "rotation": 0,
                        "target": link.target,
                    }
                    for link in links[s.scene]
                ],
                "infoHotspots": [
                    {
                        "yaw": math.radians(p.yaw_deg),
                        "pitch": -math.radians(p.pitch_deg),
                        "title": p.label or p.kind,
                        "text": p.kind,
                    }
                    for p in s.points_of_interest
                ],
            }
        )
    return {"name": tour.site, "scenes": scenes}


def _psv(
    tour: Tour, links: dict[str, list[TourLink]], headings: dict[str, float], first: str | None
) -> dict[str, Any]:
    nodes = []
    for s in tour.scenes:
        config = dict(s.viewers.get("photo_sphere_viewer", {}))
        nodes.append(
            {
                "id": s.scene,
                "name": s.title,
                "thumbnail": s.thumb,
                "adapter": config.get("adapter", "CubemapTilesAdapter"),
                "panorama": config.get("panorama", {}),
                "links": [
                    {
                        "nodeId": link.target,
                        "position": {
                            "yaw": math.radians(link.yaw_deg),
                            "pitch": math.radians(link.pitch_deg),
                        },
                    }
                    for link in links[s.scene]
                ],
                "markers": [
                    {
                        "id": f"{s.scene}-poi-{i}",
                        "position": {
                            "yaw": math.radians(p.yaw_deg),
                            "pitch": math.radians(p.pitch_deg),
                        },
                        "circle": 12,
                        "tooltip": p.label or p.kind,
                        "data": {"kind": p.kind},
                    }
                    for i, p in enumerate(s.points_of_interest)
                ],
                "data": {
                    "floor": s.position.floor,
                    "plan": {"x": s.position.x, "y": s.position.y} if s.position.placed else None,
                    "placement": s.position.source,
                    "northOffset": headings[s.scene],
                },
            }
        )
    return {"positionMode": "manual", "renderMode": "3d", "startNodeId": first, "nodes": nodes}


def _title(tour: Tour, scene: str) -> str:
    return next((s.title for s in tour.scenes if s.scene == scene), scene)
