"""The ready-made viewer configs panodock publishes: per scene (in ``scene.json``) and per tour.

Pure functions of the published documents; every key they reference is one the document
already names (tested in tests/sites). Paths are object keys relative to the bucket root (e.g.
``scenes/campus/lobby-3f2a/9c1e…/tiles``); a front end prefixes them with its public bucket
URL. One tile set serves all three viewers (BRIEF.md, "Verified in a real browser"):

- Pannellum ``multires``: ``path "/%l/%s/%y/%x"``, level 1 = one tile per face.
- Marzipano ``CubeGeometry``: levels smallest first with a first ``fallbackOnly`` level
  served by the 256 px cube preview strip ``preview.jpg`` (faces b, d, f, l, r, u top to
  bottom, the Marzipano Tool's layout), so Marzipano's 0-based ``{z}`` lines up with our level
  numbers. That level claims 256 px, or the tile size halved until at most 256 (160 for
  640 px tiles), because each Marzipano level must be a multiple of the one before.
- Photo Sphere Viewer ``CubemapTilesAdapter``: ``levels [{faceSize, nbTiles}]``, its 0-based
  level + 1 is ours, faces left/front/right/back/top/bottom are l/f/r/b/u/d, and
  ``flipTopBottom: true`` is required with this face orientation.

Tours (``tour.json``'s ``viewers``): Pannellum ``scenes`` + ``hotSpots``; Marzipano in the
Marzipano Tool's ``data.js`` shape (``linkHotspots``/``infoHotspots``, angles in radians,
pitch + DOWN); Photo Sphere Viewer's VirtualTourPlugin (``nodes`` with ``links``,
``markers`` and the plan position in ``data.plan``; angles in radians).

Text from a sidecar or a file name (scene titles, room names, POI and link labels, kinds)
is inert in every config, so a front end can load a config as it is. Per field:

- Pannellum (2.5.7): every config carries ``escapeHTML: true`` at its TOP level (inside
  ``default`` or a scene Pannellum ignores it). With it Pannellum escapes what it writes
  with ``innerHTML``: a scene's ``title`` and ``author``, a hotspot's ``text`` and its
  ``type`` class, the ``strings``; ``cssClass`` goes to ``className``, never parsed. So
  these fields hold the RAW text (escaping them ourselves would show ``&amp;lt;``). We set
  no ``createTooltipFunc``, ``URL``, ``attributes``, ``video`` or ``image`` (a front end
  that adds a ``createTooltipFunc`` must write ``text`` with ``textContent``).
- Marzipano (the Marzipano Tool's ``data.js``): the Tool's ``index.js`` writes a scene's
  ``name`` (scene list, link tooltips) and an info hotspot's ``title`` and ``text`` with
  ``innerHTML``, so these are HTML by definition: HTML-ESCAPED here.
- Photo Sphere Viewer (VirtualTourPlugin, MarkersPlugin): a node's ``name`` (link
  tooltips, gallery; also ``caption`` should a front end add one) and a marker's ``tooltip`` and
  ``content`` are HTML: HTML-ESCAPED here. Ids (``id``, ``nodeId``, ``target``,
  ``sceneId``) are slugs and never rendered.

A text consumer reads the raw text from tour.json's own ``scenes`` (``title``) and
``points_of_interest`` (``label``, ``kind``) and from ``links`` (``label``).
"""

from __future__ import annotations

import html
import math
from typing import Any, Final

from workers.contract.keys import SceneKeys
from workers.contract.scene import Coverage, TileSet
from workers.contract.tour import Tour, TourLink
from workers.sites.geo import wrap_deg

#: Photo Sphere Viewer's face names -> ours.
PSV_FACES = {"left": "l", "front": "f", "right": "r", "back": "b", "top": "u", "bottom": "d"}

#: Pannellum escapes titles and hotspot texts only with this at the config's top level.
PANNELLUM_SAFE: Final = {"escapeHTML": True}


def html_text(text: str) -> str:
    """``text`` as HTML that shows it literally (for fields a viewer writes as HTML)."""
    return html.escape(text, quote=True)


def viewer_configs(
    keys: SceneKeys, tiles: TileSet, heading_deg: float | None, coverage: Coverage | None = None
) -> dict[str, Any]:
    """Ready-made configs for Pannellum, Marzipano and Photo Sphere Viewer.

    A scene that covers less than the whole sphere (``coverage``) gets each viewer's own
    view limits (:func:`view_limits`), so looking up, down or round shows no black.
    """
    north = heading_deg or 0.0
    pannellum = {
        **PANNELLUM_SAFE,
        "type": "multires",
        "multiRes": {
            "basePath": keys.tiles,
            "path": "/%l/%s/%y/%x",
            "extension": "jpg",
            "tileResolution": tiles.tile_size,
            "maxLevel": len(tiles.levels),
            "cubeResolution": tiles.face_size,
        },
        "northOffset": north,
    }
    # Marzipano wants every level a multiple of the one before: with 640 px tiles a 256 px
    # preview level fails ("Level width must be multiple of parent level: 640 vs. 256" in
    # Chromium). The strip is cropped by fractions, so the level may claim a smaller size.
    preview = tiles.tile_size
    while preview > 256 and preview % 2 == 0:
        preview //= 2
    marzipano = {
        "geometry": "cube",
        "urlTemplate": f"{keys.tiles}/{{z}}/{{f}}/{{y}}/{{x}}.jpg",
        "cubeMapPreviewUrl": keys.preview,
        "levels": [{"tileSize": preview, "size": preview, "fallbackOnly": True}]
        + [{"tileSize": tiles.tile_size, "size": lv.size} for lv in tiles.levels],
        "faceSize": tiles.face_size,
        "northOffset": north,
    }
    psv = {
        "adapter": "CubemapTilesAdapter",
        "panorama": {
            "levels": [{"faceSize": lv.size, "nbTiles": lv.tiles} for lv in tiles.levels],
            "tileUrlTemplate": f"{keys.tiles}/{{level}}/{{face}}/{{row}}/{{col}}.jpg",
            "levelOffset": 1,
            "faces": PSV_FACES,
            "flipTopBottom": True,
        },
        "sphereCorrection": {"pan": 0},
        "northOffset": north,
    }
    limits = view_limits(coverage)
    pannellum |= limits["pannellum"]
    marzipano |= limits["marzipano"]
    psv |= limits["photo_sphere_viewer"]
    return {"pannellum": pannellum, "marzipano": marzipano, "photo_sphere_viewer": psv}


def view_limits(coverage: Coverage | None) -> dict[str, dict[str, Any]]:
    """Each viewer's limits for the covered yaw/pitch extents (empty for a whole sphere).

    - Pannellum: ``minPitch``/``maxPitch`` and ``minYaw``/``maxYaw`` (degrees; Pannellum
      keeps the view's edges inside them) and ``avoidShowingBackground: true`` (it then
      caps the zoom so the view fits the pitch range); ``maxHfov`` when the yaw range is
      narrower than its default 120 deg. ``haov``/``vaov`` are for a single partial
      equirect image, not for these cube tiles.
    - Marzipano: ``viewLimits`` ``{yaw: [min, max] | null, pitch: [min, max] | null}`` in
      radians, pitch + DOWN as Marzipano has it: the bounds a ``RectilinearView`` limiter
      keeps the view's edges within (the scene page composes one with
      ``RectilinearView.limit.traditional``; Marzipano's own ``limit.yaw``/``limit.pitch``
      clamp the view's centre only).
    - Photo Sphere Viewer: ``visibleRange`` with the options of its VisibleRangePlugin
      (``verticalRange``, ``horizontalRange``: [min, max] radians, pitch + up), and
      ``maxFov`` (vertical degrees) no wider than the pitch range.
    """
    none: dict[str, dict[str, Any]] = {"pannellum": {}, "marzipano": {}, "photo_sphere_viewer": {}}
    if coverage is None:
        return none
    yaw = (coverage.yaw_min_deg, coverage.yaw_max_deg)
    pitch = (coverage.pitch_min_deg, coverage.pitch_max_deg)
    yaw_limited = yaw[1] - yaw[0] < 360.0
    pitch_limited = pitch[0] > -90.0 or pitch[1] < 90.0
    if not (yaw_limited or pitch_limited):
        return none
    pannellum: dict[str, Any] = {"avoidShowingBackground": True}
    rad = math.radians
    marzipano: dict[str, Any] = {"viewLimits": {"yaw": None, "pitch": None}}
    psv: dict[str, Any] = {"visibleRange": {}}
    if pitch_limited:
        pannellum |= {"minPitch": pitch[0], "maxPitch": pitch[1]}
        marzipano["viewLimits"]["pitch"] = [-rad(pitch[1]), -rad(pitch[0])]
        psv["visibleRange"]["verticalRange"] = [rad(pitch[0]), rad(pitch[1])]
        psv["maxFov"] = round(min(120.0, pitch[1] - pitch[0]), 2)
    if yaw_limited:
        pannellum |= {"minYaw": yaw[0], "maxYaw": yaw[1], "maxHfov": min(120.0, yaw[1] - yaw[0])}
        marzipano["viewLimits"]["yaw"] = [rad(yaw[0]), rad(yaw[1])]
        psv["visibleRange"]["horizontalRange"] = [rad(yaw[0]), rad(yaw[1])]
    return {"pannellum": pannellum, "marzipano": marzipano, "photo_sphere_viewer": psv}


def viewer_tours(tour: Tour) -> dict[str, dict[str, Any]]:
    """Pannellum, Marzipano and Photo Sphere Viewer tour configs for a built tour."""
    links: dict[str, list[TourLink]] = {s.scene: [] for s in tour.scenes}
    for link in tour.links:
        links[link.source].append(link)
    headings = {s.scene: s.heading_deg or 0.0 for s in tour.scenes}
    titles = {s.scene: s.title for s in tour.scenes}
    first = tour.scenes[0].scene if tour.scenes else None
    return {
        "pannellum": _pannellum(tour, links, headings, titles, first),
        "marzipano": _marzipano(tour, links, headings),
        "photo_sphere_viewer": _psv(tour, links, headings, first),
    }


def _pannellum(
    tour: Tour,
    links: dict[str, list[TourLink]],
    headings: dict[str, float],
    titles: dict[str, str],
    first: str | None,
) -> dict[str, Any]:
    scenes = {}
    for s in tour.scenes:
        config = {
            k: v for k, v in s.viewers.get("pannellum", {}).items() if k not in PANNELLUM_SAFE
        }
        hotspots: list[dict[str, Any]] = [
            {
                "type": "scene",
                "sceneId": link.target,
                "yaw": link.yaw_deg,
                "pitch": link.pitch_deg,
                "text": link.label or titles.get(link.target, link.target),
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
    return {
        **PANNELLUM_SAFE,
        "default": {"firstScene": first, "sceneFadeDuration": 1000},
        "scenes": scenes,
    }


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
                "name": html_text(s.title),
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
                        "title": html_text(p.label or p.kind),
                        "text": html_text(p.kind),
                    }
                    for p in s.points_of_interest
                ],
            }
        )
    return {"name": html_text(tour.site), "scenes": scenes}


def _psv(
    tour: Tour, links: dict[str, list[TourLink]], headings: dict[str, float], first: str | None
) -> dict[str, Any]:
    nodes = []
    for s in tour.scenes:
        config = dict(s.viewers.get("photo_sphere_viewer", {}))
        nodes.append(
            {
                "id": s.scene,
                "name": html_text(s.title),
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
                        "tooltip": html_text(p.label or p.kind),
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
