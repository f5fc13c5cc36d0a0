"""The review API: scenes held for a person, their images, faces and tiles, and the actions.

Every route needs an operator's credential (reads: the operator role; actions: an operator
credential, never the loopback fallback). Actions are audited by the service's middleware
and recorded in the capture's history with the credential's label as who::

    GET  /api/review                                  held captures (README, Review)
    GET  /api/captures/<capture>/thumb.jpg            any capture's thumbnail (its original's)
    GET  /api/review/<capture>/thumb.jpg|equirect.jpg the held version's images
    GET  /api/review/<capture>/scene.json             its manifest (checks included)
    GET  /api/review/<capture>/faces                  detected faces, published equirect frame
    GET  /api/review/<capture>/tiles/<z>/<f>/<y>/<x>.jpg   its tiles, for a viewer
    POST /api/review/<capture>/approve {note}         make it live
    POST /api/review/<capture>/reject {reason}        fail it
    POST /api/review/<capture>/fix {pitch_deg, roll_deg, heading_deg, lens, blur: [...]}
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError

from config.errors import ObjectNotFound
from ingest.sidecar import BlurRegion
from workers.access.apikeys import Role
from workers.contract.scene import SceneManifest
from workers.http.auth import Access, Principal
from workers.ops import review as actions
from workers.ops import thumbs
from workers.pipeline import review
from workers.queue.actors import App
from workers.state.ledger import Capture, CaptureNotFound, Overrides
from workers.store.base import ObjectStore

_FACES = frozenset("fblrud")
_CACHE = {"Cache-Control": "private, no-store"}  # operators only: never kept by a proxy
_THUMB_CACHE = {"Cache-Control": "private, max-age=300"}


class Region(BaseModel):
    """A region to blur, degrees in the published scene."""

    yaw_deg: float
    pitch_deg: float
    width_deg: float
    height_deg: float


class Fix(BaseModel):
    """The body of ``POST /api/review/<capture>/fix``."""

    pitch_deg: float | None = None
    roll_deg: float | None = None
    heading_deg: float | None = None
    lens: str | None = None
    blur: list[Region] = Field(default_factory=list)


def review_router(*, access: Access, store: ObjectStore, app: App) -> APIRouter:
    """The routes of the review API (module docstring)."""
    router = APIRouter()
    reader = Depends(access.require(Role.operator))
    actor = access.require(Role.operator, action=True)

    def held(capture_id: str) -> Capture:
        try:
            return actions.in_review(app, capture_id)
        except CaptureNotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        except actions.ReviewError as exc:
            raise HTTPException(404, str(exc)) from exc

    def manifest(capture: Capture) -> SceneManifest:
        try:
            return SceneManifest.model_validate_json(store.get(actions.keys_of(capture).manifest))
        except ObjectNotFound as exc:
            raise HTTPException(404, f"the held version of {capture.id[:12]} is gone") from exc

    def image(key: str) -> Response:
        try:
            return Response(store.get(key), media_type="image/jpeg", headers=_CACHE)
        except ObjectNotFound as exc:
            raise HTTPException(404, f"no {key.rsplit('/', 1)[-1]} in the held version") from exc

    @router.get("/api/review", dependencies=[reader])
    def listing() -> dict[str, list[dict[str, Any]]]:
        return {"items": [actions.item(c, h) for c, h in actions.held(app, store)]}

    @router.get("/api/captures/{capture_id}/thumb.jpg", dependencies=[reader])
    def capture_thumb(capture_id: str) -> Response:
        try:
            capture = app.ledger.find(capture_id)
        except CaptureNotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        data = thumbs.capture_thumb(store, capture, max_pixels=app.settings.max_input_pixels)
        if data is None:
            raise HTTPException(404, f"capture {capture.id[:12]} has no image to show")
        return Response(data, media_type="image/jpeg", headers=_THUMB_CACHE)

    @router.get("/api/review/{capture_id}/thumb.jpg", dependencies=[reader])
    def thumb(capture_id: str) -> Response:
        return image(manifest(held(capture_id)).thumb.key)

    @router.get("/api/review/{capture_id}/equirect.jpg", dependencies=[reader])
    def equirect(capture_id: str) -> Response:
        return image(manifest(held(capture_id)).equirect.key)

    @router.get("/api/review/{capture_id}/scene.json", dependencies=[reader])
    def scene(capture_id: str) -> Response:
        capture = held(capture_id)
        body = store.get(actions.keys_of(capture).manifest)
        return Response(body, media_type="application/json", headers=_CACHE)

    @router.get("/api/review/{capture_id}/faces", dependencies=[reader])
    def faces(capture_id: str) -> dict[str, Any]:
        capture = held(capture_id)
        found = review.load_faces(store, actions.keys_of(capture))
        size = manifest(capture).equirect
        return {
            "faces": [f.model_dump() for f in found.faces] if found else [],
            "equirect": {"width": size.width, "height": size.height},
        }

    @router.get("/api/review/{capture_id}/tiles/{z}/{f}/{y}/{x}.jpg", dependencies=[reader])
    def tile(capture_id: str, z: int, f: str, y: int, x: int) -> Response:
        if f not in _FACES or min(z, y, x) < 0:
            raise HTTPException(404, "no such tile")
        keys = actions.keys_of(held(capture_id))
        return image(f"{keys.tiles}/{z}/{f}/{y}/{x}.jpg")

    def who(principal: Principal) -> str:
        return f"{principal.label} ({principal.kind} {principal.id})"

    def settle(call: Any) -> dict[str, Any]:
        try:
            done: Capture = call()
        except CaptureNotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        except actions.ReviewError as exc:
            raise HTTPException(409, str(exc)) from exc
        except ValidationError as exc:
            raise HTTPException(422, str(exc)) from exc
        return done.model_dump(mode="json")

    @router.post("/api/review/{capture_id}/approve")
    def approve(
        capture_id: str, request: Request, note: Annotated[str | None, Body(embed=True)] = None
    ) -> dict[str, Any]:
        by = who(actor(request))
        return settle(lambda: actions.approve(app, store, capture_id, by=by, note=note))

    @router.post("/api/review/{capture_id}/reject")
    def reject(
        capture_id: str, request: Request, reason: Annotated[str, Body(embed=True)]
    ) -> dict[str, Any]:
        by = who(actor(request))
        return settle(lambda: actions.reject(app, store, capture_id, by=by, reason=reason))

    @router.post("/api/review/{capture_id}/fix")
    def fix(capture_id: str, request: Request, body: Fix) -> dict[str, Any]:
        by = who(actor(request))

        def run() -> Capture:
            overrides = Overrides(
                pitch_deg=body.pitch_deg, roll_deg=body.roll_deg,
                heading_deg=body.heading_deg, lens=body.lens,
            )  # fmt: skip
            regions = [BlurRegion(**r.model_dump()) for r in body.blur]
            return actions.fix(app, store, capture_id, by=by, overrides=overrides, blur=regions)

        return settle(run)

    return router
