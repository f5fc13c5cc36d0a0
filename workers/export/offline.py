"""``DIR/offline/`` and ``DIR/SITE-offline.zip``: the site on a laptop or a USB stick, no network.

::

    offline/index.html            the floors: plan, grid, scene markers, POI symbols, legend
    offline/app.js  style.css     the page's code (no framework, no network)
    offline/data.js               the site: floors, grids, scenes, points of interest
    offline/plans/<b>-<f>.<ext>   the plan images
    offline/thumbs/<scene>.jpg    each scene's thumbnail
    offline/scenes/<scene>.html   the scene in Pannellum (cube faces from <scene>.js)
    offline/scenes/<scene>.js     its six cube faces as data: URLs, capped at --max-face px
    offline/vendor/pannellum.*    the pinned viewer (workers/http/package-lock.json)
    offline/attachments/<sha256>/<name>   the documents attached to points and scenes

Everything is loaded with ``<script src>`` and ``<img src>``, never ``fetch``, so the bundle
works opened from ``file://`` as well as from any static web server. The faces travel as
``data:`` URLs because a browser refuses ``file://`` images as WebGL textures (each file is
its own origin). Each scene's faces are the largest level of its published pyramid no
bigger than ``max_face_px``, assembled from its tiles. Text from sidecars reaches the page
only through ``textContent`` and Pannellum's top-level ``escapeHTML: true``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import shutil
import zipfile
from collections.abc import Iterator
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Final

from PIL import Image

from config.errors import ConfigError, ObjectNotFound
from config.poi import BY_ID, KINDS, OTHER
from workers.contract.keys import current_key
from workers.contract.scene import CurrentPointer, SceneManifest
from workers.contract.site import Attachment
from workers.contract.tour import Tour, TourScene
from workers.export.links import bundle_path
from workers.export.pdf import scene_numbers
from workers.sites.verify import verification_line
from workers.store.base import ObjectStore

#: Pannellum order of a cubemap's faces: front, right, back, left, up, down.
CUBE_ORDER: Final = ("f", "r", "b", "l", "u", "d")
_VENDOR: Final = {"pannellum.js": "pannellum/build/pannellum.js",
                  "pannellum.css": "pannellum/build/pannellum.css"}  # fmt: skip


def write_bundle(
    store: ObjectStore,
    tour: Tour,
    plans: dict[str, bytes],
    out: Path,
    options: Any,
    generated: datetime,
    site_name: str,
) -> list[Path]:
    """Write ``out/offline/`` and ``out/<site>-offline.zip``; returns every file written.

    Raises
    ------
    ConfigError
        The pinned viewer is not installed (``options.viewers`` names no node_modules).
    """
    if options.viewers is None or not (Path(options.viewers) / _VENDOR["pannellum.js"]).exists():
        raise ConfigError(
            "the offline bundle needs the pinned Pannellum (panodock serve installs it with "
            "npm); run it once, or export with --no-offline"
        )
    root = out / "offline"
    if root.exists():
        shutil.rmtree(root)
    (root / "vendor").mkdir(parents=True)
    for name, source in _VENDOR.items():
        shutil.copyfile(Path(options.viewers) / source, root / "vendor" / name)
    for name in ("index.html", "app.js", "scene.html", "scene.js", "style.css"):
        if name != "scene.html":
            (root / name).write_bytes(_asset(name))
    data = _data(tour, generated, site_name)
    plan_files = {}
    for floor in tour.floors:
        suffix = Path(floor.plan.key).suffix
        stem = f"{floor.building}-{floor.floor}{suffix}"
        (root / "plans").mkdir(exist_ok=True)
        (root / "plans" / stem).write_bytes(plans[floor.id])
        plan_files[floor.id] = f"plans/{stem}"
    for floor in data["floors"]:
        floor["plan_file"] = plan_files[floor["id"]]
    (root / "scenes").mkdir()
    (root / "thumbs").mkdir()
    page = _asset("scene.html").decode()
    for scene in tour.scenes:
        faces = _faces(store, tour.site, scene, options.max_face_px)
        if faces is None:
            continue
        with_faces = next(s for s in data["scenes"] if s["scene"] == scene.scene)
        with_faces["offline"] = True
        face_size, urls = faces
        payload = {"scene": scene.scene, "face_size": face_size, "faces": urls}
        (root / "scenes" / f"{scene.scene}.js").write_text(
            "window.PANODOCK_SCENE = " + json.dumps(payload) + ";\n"
        )
        (root / "scenes" / f"{scene.scene}.html").write_text(
            page.replace("{{title}}", html.escape(scene.title)).replace(
                "{{scene}}", html.escape(scene.scene)
            )
        )
        try:
            (root / "thumbs" / f"{scene.scene}.jpg").write_bytes(store.get(scene.thumb))
        except ObjectNotFound:
            pass
    for item in {a.sha256 + "/" + a.name: a for a in _all_attachments(tour)}.values():
        try:
            data_bytes = store.get(item.key)
        except ObjectNotFound:
            continue
        target = root / bundle_path(item)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data_bytes)
    (root / "data.js").write_text(
        "window.PANODOCK_BUNDLE = " + json.dumps(data, ensure_ascii=True) + ";\n"
    )
    written = sorted(p for p in root.rglob("*") if p.is_file())
    archive = out / f"{tour.site}-offline.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in written:
            zf.write(path, f"{tour.site}-offline/{path.relative_to(root)}")
    return [*written, archive]


def _all_attachments(tour: Tour) -> list[Attachment]:
    return [a for s in tour.scenes for a in s.attachments] + [
        a for p in tour.pois for a in p.attachments
    ]


def _documents(items: list[Attachment]) -> list[dict[str, str]]:
    return [{"title": a.title, "href": bundle_path(a), "type": a.content_type} for a in items]


def _asset(name: str) -> bytes:
    return resources.files(__package__).joinpath("offline_assets").joinpath(name).read_bytes()


def _data(tour: Tour, generated: datetime, site_name: str) -> dict[str, Any]:
    numbers = scene_numbers(tour)
    return {
        "site": tour.site,
        "name": site_name,
        "generated_at": generated.isoformat(),
        "kinds": {
            k.id: {"title": k.title, "code": k.code, "shape": k.shape, "colour": k.colour}
            for k in (*KINDS, OTHER)
        },  # fmt: skip
        "floors": [
            {
                "id": f.id,
                "building": f.building,
                "floor": f.floor,
                "name": f.name,
                "width": f.plan.width,
                "height": f.plan.height,
                "north_offset_deg": f.north_offset_deg,
                "scale_px_per_m": f.scale_px_per_m,
                "grid": f.grid.model_dump(mode="json") if f.grid else None,
                "verified": verification_line(f.verified),
            }
            for f in tour.floors
        ],
        "scenes": [
            {
                "scene": s.scene,
                "number": numbers[s.scene],
                "title": s.title,
                "floor": s.position.floor if s.position.placed else None,
                "x": s.position.x,
                "y": s.position.y,
                "grid": s.grid,
                "heading_deg": s.heading_deg,
                "offline": False,
                "notes": s.notes,
                "attachments": _documents(s.attachments),
                "links": [
                    {"to": k.target, "yaw": k.yaw_deg, "pitch": k.pitch_deg, "label": k.label}
                    for k in tour.links
                    if k.source == s.scene
                ],
            }
            for s in tour.scenes
        ],
        "pois": [
            {
                "id": p.id,
                "kind": p.catalogue_kind if p.catalogue_kind in BY_ID else "other",
                "label": p.label,
                "number": p.number,
                "floor": p.position.floor,
                "x": p.position.x,
                "y": p.position.y,
                "grid": p.position.grid,
                "source": p.position.source,
                "accuracy_m": p.position.accuracy_m,
                "scenes": [s.model_dump(mode="json") for s in p.scenes],
                "notes": p.notes,
                "attachments": _documents(p.attachments),
            }
            for p in tour.pois
        ],
    }


def _faces(
    store: ObjectStore, site: str, scene: TourScene, max_face_px: int
) -> tuple[int, list[str]] | None:
    """The scene's six faces (Pannellum order) as JPEG data: URLs, or None if unpublished."""
    try:
        pointer = CurrentPointer.model_validate_json(store.get(current_key(site, scene.scene)))
        manifest = SceneManifest.model_validate_json(store.get(pointer.manifest))
    except ObjectNotFound:
        return None
    tiles = manifest.tiles
    fitting = [lv for lv in tiles.levels if lv.size <= max_face_px] or tiles.levels[:1]
    level = fitting[-1]
    urls = []
    for face in CUBE_ORDER:
        canvas = Image.new("RGB", (level.size, level.size))
        for ty, tx in _cells(level.tiles):
            key = f"{manifest.base}/" + tiles.path.format(z=level.z, f=face, y=ty, x=tx)
            with Image.open(io.BytesIO(store.get(key))) as tile:
                canvas.paste(tile.convert("RGB"), (tx * tiles.tile_size, ty * tiles.tile_size))
        buffer = io.BytesIO()
        canvas.save(buffer, format="JPEG", quality=85)
        urls.append("data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode())
    return level.size, urls


def _cells(count: int) -> Iterator[tuple[int, int]]:
    for y in range(count):
        for x in range(count):
            yield y, x
