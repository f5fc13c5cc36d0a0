"""The pages of the status service: the ops console, the scene page and what they load.

Routes::

    /                          -> /ops
    /ops                       the operations console (static page over the JSON API)
    /scene/<site>/<scene>      one published scene in Pannellum, Marzipano and PSV
    /static/<file>             the pages' own JS and CSS
    /vendor/<file>             the pinned viewers, from the npm install (never a CDN)
    /objects/<key>             published objects (scenes/, sites/, schemas/) from the store

The scene page reads only published objects (``current.json``, then ``scene.json``, then
tiles) through ``/objects``, with the viewer configs from ``scene.json`` as they are: what it
shows is what a downstream front end gets from the bucket. Originals (``raw/``) are never
served here.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Final

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse, Response

from config.errors import ObjectNotFound
from workers.contract.keys import PUBLIC_PREFIXES
from workers.http.viewer_assets import VENDOR_FILES
from workers.store.base import ObjectStore, content_type_for

_STATIC_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


def _static(name: str) -> Response:
    path = resources.files(__package__).joinpath("static").joinpath(name)
    suffix = Path(name).suffix
    if "/" in name or suffix not in _STATIC_TYPES or not path.is_file():
        raise HTTPException(404, f"no static file {name}")
    return Response(path.read_bytes(), media_type=_STATIC_TYPES[suffix])


def web_router(*, store: ObjectStore, viewers: Path | None) -> APIRouter:
    """Routes of the pages; ``viewers`` is the npm ``node_modules`` (None: not installed)."""
    router = APIRouter()

    @router.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/ops")

    @router.get("/ops", include_in_schema=False)
    def ops() -> Response:
        return _static("ops.html")

    @router.get("/scene/{site}/{scene}", include_in_schema=False)
    def scene(site: str, scene: str) -> Response:
        return _static("scene.html")

    @router.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        return _static(name)

    @router.get("/vendor/{name:path}", include_in_schema=False)
    def vendor(name: str) -> FileResponse:
        if name not in VENDOR_FILES:
            raise HTTPException(404, f"no vendor file {name}")
        if viewers is None:
            raise HTTPException(
                503, "the viewers are not installed; see the log of `panodock serve` (npm ci)"
            )
        return FileResponse(
            viewers / VENDOR_FILES[name],
            media_type=_STATIC_TYPES.get(Path(name).suffix, "application/octet-stream"),
        )

    @router.get("/objects/{key:path}", include_in_schema=False)
    def published(key: str) -> Response:
        if not key.startswith(PUBLIC_PREFIXES) or ".." in key.split("/"):
            raise HTTPException(404, f"{key} is not a published object")
        try:
            body = store.get(key)
        except (ObjectNotFound, ValueError) as exc:
            raise HTTPException(404, f"no published object {key}") from exc
        # Scene versions are immutable; pointers and indexes change.
        immutable = key.startswith("scenes/") and not key.endswith("current.json")
        cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
        return Response(body, media_type=content_type_for(key), headers={"Cache-Control": cache})

    return router
