"""The share gateway: ``/s/<token>/`` for a responder, without any other credential.

Routes::

    /s/<token>/                          the share's page: floors, scenes, points of interest
    /s/<token>/share.json                the share's site, label, scenes in scope, expiry
    /s/<token>/scene/<site>/<scene>      a scene in the viewers (the scene page's code)
    /s/<token>/objects/<key>             exactly the objects in the share's scope

In scope, for the share's site: ``scenes/<site>/<scene>/…`` of the scenes it covers,
``sites/<site>/tour.json`` (cut down to those scenes), ``sites/<site>/plans/…``,
``sites/<site>/attachments/…`` and
``schemas/…``. Anything else, and any path with ``..``, an encoded slash, dot, backslash or
NUL, is 404. Objects are streamed from the configured store (not redirected to presigned
URLs: a presigned URL outlives a revocation; see tests/bench/gateway.py for the figures)
with an ``ETag``, ``If-None-Match`` (304), ``Cache-Control: private`` and single ``Range``
requests (206, 416). The share is looked up in Redis on every request, so a revoked or
expired share stops at once on every process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from typing import Any, Final

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from config.errors import ObjectNotFound
from workers.access.apikeys import Role
from workers.access.shares import Share
from workers.access.tokens import TOKEN_SHAPE, digest
from workers.http.auth import Access, Principal
from workers.http.pages import static_page
from workers.pipeline.review import HeldVersions
from workers.store.base import ObjectStore, content_type_for

log = logging.getLogger(__name__)

_BAD_RAW: Final = (b"%2f", b"%5c", b"%00", b"%2e", b"\\")
_GONE: Final = "this share link is not valid: it has expired or was revoked; ask for a new one"
#: How long a serving process trusts a share it looked up. A viewer asks for dozens of tiles
#: at once; one Redis look-up per second and share serves them all, and a revocation or an
#: expiry still cuts access within the 5 s the contract promises.
SHARE_CACHE_SECONDS: Final = 1.0


class _ShareCache:
    """Shares looked up in the last second, by token digest; first uses seen here."""

    def __init__(self, access: Access, *, ttl: float = SHARE_CACHE_SECONDS) -> None:
        self.access = access
        self.ttl = ttl
        self._found: dict[str, tuple[float, Share | None]] = {}
        self._used: set[str] = set()
        self._lock = threading.Lock()

    def resolve(self, token: str) -> Share | None:
        key = digest(token)
        now = time.monotonic()
        with self._lock:
            hit = self._found.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            share = hit[1]
            return share if share is None or share.active() else None
        share = self.access.shares.resolve(token)
        with self._lock:
            if len(self._found) > 10_000:  # a scan of random tokens must not grow it forever
                self._found.clear()
            self._found[key] = (now, share)
        return share

    def first_use(self, share: Share) -> bool:
        """True once per share across every process (Redis decides); asked once per process."""
        with self._lock:
            if share.id in self._used:
                return False
            self._used.add(share.id)
        return self.access.shares.first_use(share)
#: Seconds a browser may keep an immutable scene object of a share.
IMMUTABLE_MAX_AGE: Final = 3600


def in_scope(share: Share, key: str) -> bool:
    """Whether ``key`` is an object the share may read."""
    parts = key.split("/")
    if "\\" in key or "\x00" in key or any(p in ("", ".", "..") for p in parts):
        return False
    if parts[0] == "schemas":
        return len(parts) >= 2
    if len(parts) < 3 or parts[1] != share.site:
        return False
    if parts[0] == "sites":
        # Plans and the documents on the map (attachments) belong to the whole site.
        return parts[2:] == ["tour.json"] or (
            parts[2] in ("plans", "attachments") and len(parts) >= 4
        )
    if parts[0] == "scenes":
        return len(parts) >= 4 and share.covers(share.site, parts[2])
    return False


def scoped_tour(share: Share, body: bytes) -> bytes:
    """``tour.json`` with only the scenes (links, points of interest) the share covers."""
    if not share.scenes:
        return body
    tour: dict[str, Any] = json.loads(body)
    keep = set(share.scenes)
    tour["scenes"] = [s for s in tour.get("scenes", []) if s.get("scene") in keep]
    tour["links"] = [
        x for x in tour.get("links", []) if x.get("source") in keep and x.get("target") in keep
    ]
    tour["points_of_interest"] = [
        p for p in tour.get("points_of_interest", []) if p.get("scene") in keep
    ]
    for name in ("needs_placement", "needs_heading"):
        tour[name] = [s for s in tour.get(name, []) if s in keep]
    return json.dumps(tour, indent=2).encode()


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _range(header: str, size: int) -> tuple[int, int] | None | bool:
    """(first, last) of a single ``bytes=`` range; None: ignore it; False: unsatisfiable.

    Never returns True; the bool is only the unsatisfiable marker.
    """
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return None  # not a single byte range: send the whole object
    first, _, last = spec.strip().partition("-")
    try:
        if not first:
            n = int(last)
            if n <= 0:
                return False
            return max(0, size - n), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        return False
    return start, min(end, size - 1)


def object_response(request: Request, key: str, body: bytes) -> Response:
    """The object with ETag/304, ``Cache-Control: private`` and Range/206/416."""
    etag = _etag(body)
    immutable = key.startswith("scenes/") and not key.endswith("current.json")
    cache = f"private, max-age={IMMUTABLE_MAX_AGE if immutable else 0}"
    if not immutable:
        cache += ", must-revalidate"
    headers = {"ETag": etag, "Cache-Control": cache, "Accept-Ranges": "bytes"}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    wanted = request.headers.get("range")
    if wanted:
        span = _range(wanted, len(body))
        if span is False:
            return Response(
                status_code=416, headers={**headers, "Content-Range": f"bytes */{len(body)}"}
            )
        if isinstance(span, tuple):
            first, last = span
            return Response(
                body[first : last + 1], status_code=206, media_type=_media_type(key, body),
                headers={**headers, "Content-Range": f"bytes {first}-{last}/{len(body)}"},
            )  # fmt: skip
    return Response(body, media_type=_media_type(key, body), headers=headers)


def _media_type(key: str, body: bytes) -> str:
    """The key's type; an attachment's from its first bytes (a PDF opens in the browser)."""
    if key.startswith("sites/") and "/attachments/" in key:
        from workers.sites.attachments import sniffed_type

        return sniffed_type(body)
    return content_type_for(key)


def _emit(app: object, event: str, payload: dict[str, Any]) -> None:
    """``workers.notify.emit`` if that module exists (webhooks are another helper's)."""
    try:
        from workers.notify import emit  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return
    try:
        emit(app, event, payload)
    except Exception:  # noqa: BLE001 - a webhook problem must not break a responder's read
        log.exception("share %s: the %s event could not be queued", payload.get("share"), event)


def gateway_router(*, access: Access, store: ObjectStore, app: object) -> APIRouter:
    """The routes of the share gateway; ``app`` is what ``workers.notify.emit`` queues with."""
    router = APIRouter()
    shares = _ShareCache(access)
    held = HeldVersions(store)

    def share_of(request: Request, token: str) -> Share:
        raw = request.scope.get("raw_path", b"").lower()
        if any(bad in raw for bad in _BAD_RAW):
            raise HTTPException(404, "no such object in this share")
        share = shares.resolve(token) if TOKEN_SHAPE.match(token) else None
        if share is None:
            raise HTTPException(404, _GONE)
        request.state.principal = Principal(
            "share", share.id, share.label, Role.viewer, frozenset({share.site})
        )
        if shares.first_use(share):
            log.info("share %s (%s) used for the first time", share.id, share.label)
            _emit(app, "share.used_first", {
                "share": share.id, "label": share.label, "site": share.site,
                "at": share.created_at.isoformat(),
            })  # fmt: skip
        return share

    @router.get("/s/{token}", include_in_schema=False)
    def bare(request: Request, token: str) -> RedirectResponse:
        share_of(request, token)
        return RedirectResponse(f"/s/{token}/")

    @router.get("/s/{token}/", include_in_schema=False)
    def page(request: Request, token: str) -> Response:
        share_of(request, token)
        return static_page("share.html", private=True)

    @router.get("/s/{token}/share.json", include_in_schema=False)
    def about(request: Request, token: str) -> dict[str, Any]:
        share = share_of(request, token)
        return {
            "id": share.id, "label": share.label, "site": share.site, "scenes": share.scenes,
            "expires_at": share.expires_at.isoformat(),
        }  # fmt: skip

    @router.get("/s/{token}/scene/{site}/{scene}", include_in_schema=False)
    def scene(request: Request, token: str, site: str, scene: str) -> Response:
        share = share_of(request, token)
        if not share.covers(site, scene):
            raise HTTPException(404, "this scene is not in the share")
        return static_page("scene.html", private=True)

    @router.get("/s/{token}/objects/{key:path}", include_in_schema=False)
    def objects(request: Request, token: str, key: str) -> Response:
        share = share_of(request, token)
        if not in_scope(share, key) or held(key):  # a version in review is not shared
            raise HTTPException(404, "no such object in this share")
        try:
            body = store.get(key)
        except (ObjectNotFound, ValueError) as exc:
            raise HTTPException(404, "no such object in this share") from exc
        if key == f"sites/{share.site}/tour.json":
            body = scoped_tour(share, body)
        return object_response(request, key, body)

    return router
