"""The pages of the status service: the ops console, the scene page and what they load.

Routes::

    /                          -> /ops
    /ops                       the operations console (static page over the JSON API)
    /scene/<site>/<scene>      one published scene in Pannellum, Marzipano and PSV
    /static/<file>             the pages' own JS and CSS
    /vendor/<file>             the pinned viewers, from the npm install (never a CDN)
    /objects/<key>             published objects (scenes/, sites/, schemas/) from the store
    /login, /logout            the console's login form (POST a token) and its session cookie

When any credential is configured (:mod:`workers.http.auth`), ``/ops`` needs the operator
role and ``/scene`` and ``/objects`` the viewer role for the scene's site; a browser without
a session gets the login form (401). A site that opted in (``visibility: public``) is the
exception: its scenes, tour and plans, and the JSON Schemas, answer without a credential
(never its ``site.json``). ``/static`` and ``/vendor`` are code, open to all.
The scene page reads only published objects (``current.json``, then ``scene.json``, then
tiles) through ``/objects``, with the viewer configs from ``scene.json`` as they are: what it
shows is what a downstream front end gets from the bucket. Originals (``raw/``) are never
served here.
"""

from __future__ import annotations

import logging
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from config.errors import ObjectNotFound
from workers.access.apikeys import Role
from workers.access.sessions import COOKIE
from workers.contract.keys import PUBLIC_PREFIXES
from workers.http.viewer_assets import VENDOR_FILES
from workers.pipeline.review import HeldVersions
from workers.sites.registry import load_site
from workers.store.base import ObjectStore, content_type_for

if TYPE_CHECKING:
    from workers.http.auth import Access

_STATIC_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".ico": "image/x-icon",
}


def _static(name: str) -> Response:
    path = resources.files(__package__).joinpath("static").joinpath(name)
    suffix = Path(name).suffix
    if "/" in name or suffix not in _STATIC_TYPES or not path.is_file():
        raise HTTPException(404, f"no static file {name}")
    return Response(path.read_bytes(), media_type=_STATIC_TYPES[suffix])


def static_page(name: str, *, private: bool = False, status: int = 200) -> Response:
    """One of the pages in ``static/``; ``private`` pages are not kept by shared caches."""
    page = _static(name)
    page.status_code = status
    if private:
        page.headers["Cache-Control"] = "private, no-store"
        page.headers["Referrer-Policy"] = "no-referrer"
    return page


log = logging.getLogger(__name__)

#: How long a serving process trusts a site's visibility: a site made private again stops
#: answering anonymous readers within this many seconds.
VISIBILITY_SECONDS: Final = 5.0


class PublicSites:
    """Whether a site opted in to anonymous readers (``visibility: public``), cached briefly."""

    def __init__(self, store: ObjectStore, *, ttl: float = VISIBILITY_SECONDS) -> None:
        self.store = store
        self.ttl = ttl
        self._seen: dict[str, tuple[float, bool]] = {}

    def __call__(self, site: str) -> bool:
        now = time.monotonic()
        hit = self._seen.get(site)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        try:
            registry = load_site(self.store, site)
            public = registry is not None and registry.visibility == "public"
        except Exception:  # an unreadable registry never opens a site
            log.warning("site %s: registry unreadable; treated as private", site, exc_info=True)
            public = False
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[site] = (now, public)
        return public

    def anonymous(self, key: str) -> bool:
        """Whether ``key`` may be read without a credential: a public site's scenes, tour
        and plans, and the JSON Schemas. A site's registry (GPS control points) never is."""
        parts = key.split("/")
        if parts[0] == "schemas":
            return True
        if len(parts) >= 3 and parts[0] == "scenes":
            return self(parts[1])
        if len(parts) >= 3 and parts[0] == "sites" and parts[2] in ("tour.json", "plans"):
            return self(parts[1])
        return False


def web_router(*, store: ObjectStore, viewers: Path | None, access: Access) -> APIRouter:
    """Routes of the pages; ``viewers`` is the npm ``node_modules`` (None: not installed)."""
    router = APIRouter()
    public = PublicSites(store)
    held = HeldVersions(store)  # versions in review are the review API's, not a viewer's

    def guard(request: Request, role: Role) -> Response | None:
        """None when the caller may see the page, else the login form (401/403)."""
        try:
            access.check(request, role)
        except HTTPException as exc:
            if exc.status_code == 401:
                return static_page("login.html", private=True, status=401)
            raise
        return None

    @router.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        secret = (form.get("token") or [""])[0].strip()
        found = access.from_secret(secret) if secret else None
        if found is None:
            return static_page("login.html", private=True, status=403)
        sid = access.sessions.create(
            {"kind": "admin"} if found.kind == "admin" else {"kind": "key", "id": found.id}
        )
        target = (form.get("next") or ["/ops"])[0]
        if not target.startswith("/") or target.startswith("//"):
            target = "/ops"
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE, sid, max_age=access.sessions.ttl_seconds, httponly=True, samesite="strict",
            secure=request.url.scheme == "https", path="/",
        )  # fmt: skip
        return response

    @router.post("/logout", include_in_schema=False)
    def logout(request: Request) -> Response:
        sid = request.cookies.get(COOKIE)
        if sid:
            access.sessions.end(sid)
        response = RedirectResponse("/ops", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @router.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/ops")

    @router.get("/ops", include_in_schema=False)
    def ops(request: Request) -> Response:
        return guard(request, Role.operator) or _static("ops.html")

    @router.get("/scene/{site}/{scene}", include_in_schema=False)
    def scene(request: Request, site: str, scene: str) -> Response:
        if public(site):  # an open-day tour: anyone may look
            return _static("scene.html")
        refused = guard(request, Role.viewer)
        if refused is None and not access.check(request, Role.viewer).reads(site):
            raise HTTPException(403, f"this credential does not reach site {site}")
        return refused or _static("scene.html")

    @router.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:  # every browser asks for it, on every page: no 404 in the logs
        icon = _static("favicon.ico")
        icon.headers["Cache-Control"] = "public, max-age=86400"
        return icon

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
    def published(request: Request, key: str) -> Response:
        if not key.startswith(PUBLIC_PREFIXES) or ".." in key.split("/") or held(key):
            raise HTTPException(404, f"{key} is not a published object")  # review: not yet
        if not public.anonymous(key):
            who = access.check(request, Role.viewer)
            site = key.split("/")[1] if not key.startswith("schemas/") else None
            if site is not None and not who.reads(site):
                raise HTTPException(403, f"this credential does not reach site {site}")
        try:
            body = store.get(key)
        except (ObjectNotFound, ValueError) as exc:
            raise HTTPException(404, f"no published object {key}") from exc
        # Scene versions are immutable; pointers and indexes change.
        immutable = key.startswith("scenes/") and not key.endswith("current.json")
        cache = "private, max-age=31536000, immutable" if immutable else "private, no-cache"
        return Response(body, media_type=content_type_for(key), headers={"Cache-Control": cache})

    return router
