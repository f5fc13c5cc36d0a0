"""The status service (``panodock serve``): JSON API, ``/metrics``, the pages, the share gateway.

Bound to 127.0.0.1 by default. Binding any other address requires the admin token
(``PANODOCK_SERVE_TOKEN``, >= 32 characters). Credentials and roles are
:mod:`workers.http.auth`'s: when a token or any API key exists, every route below except
``/healthz`` needs one, sent as ``Authorization: Bearer <token or key>`` or as the
console's session cookie; with none configured, loopback clients may read and nobody may
act. Every request must carry an allowed ``Host`` (``PANODOCK_SERVE_ALLOWED_HOSTS``).

Read endpoints (role)::

    GET /healthz                        Redis reachable (open)
    GET /api/status                     queue, workers, captures by state, the last hour,
                                        failures (each superseded_by a later capture or
                                        None), inbox folders pending (no capture.json),
                                        published scenes with thumbnails (operator)
    GET /api/captures?state=&site=      captures (newest first), filtered (operator)
    GET /api/captures/<id>              one capture and its full history (operator)
    GET /metrics                        Prometheus text format (operator)
    GET /api/shares                     share links (admin)

Actions::

    POST /api/captures/<id>/retry               a failed or quarantined capture (operator)
    POST /api/dead/requeue                      dead-lettered jobs back on the queue (operator)
    POST /api/scenes/<site>/<scene>/republish   the live version's capture again (operator)
    POST /api/shares                            a share link {site, scenes, expires, label} (admin)
    POST /api/shares/<id>/revoke                stop a share link (admin)

Review (operator; :mod:`workers.http.review_api`): ``GET /api/review`` and each held
capture's images, scene.json, faces and tiles; ``POST /api/review/<id>/approve|reject|fix``.

``/s/<token>/…`` is the share gateway (:mod:`workers.http.gateway`). The OpenAPI document is
at ``/api/openapi.json``; no docs page is served (Swagger UI would load a CDN's script on
the console's origin).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import redis
from fastapi import Body, Depends, FastAPI, HTTPException, Query
from fastapi.responses import Response

from config.errors import ConfigError, ObjectNotFound
from config.settings import Settings
from workers.access.apikeys import Role
from workers.access.shares import ShareNotFound
from workers.access.tokens import parse_duration
from workers.contract.keys import current_key, tour_key
from workers.contract.tour import Tour
from workers.http.auth import (
    Access,
    AuditRequests,
    HostCheck,
    allowed_hosts,
    check_token,
    install_log_redaction,
)
from workers.http.gateway import gateway_router
from workers.http.pages import web_router
from workers.http.review_api import review_router
from workers.ops.actions import requeue_all_dead, retry_capture
from workers.ops.bulk import republish_scene
from workers.ops.metrics import CONTENT_TYPE, PanodockCollector, exposition
from workers.ops.status import (
    Activity,
    QueueStats,
    activity,
    failure_rows,
    pending_folders,
    queue_stats,
    recent_failures,
    scene_rows,
    watcher_health,
    worker_rows,
)
from workers.queue.actors import App
from workers.queue.broker import QUEUE, redis_client
from workers.state.ledger import Capture, CaptureNotFound, State
from workers.store.base import ObjectStore
from workers.store.factory import make_store

log = logging.getLogger(__name__)

_SUMMARY = {"id", "state", "stage", "reason", "site", "scene", "source", "updated_at"}


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback and not token:
        raise ConfigError(
            f"refusing to serve on {host} without a token: set PANODOCK_SERVE_TOKEN, or bind "
            "127.0.0.1 and put a proxy in front"
        )


def create_api(
    settings: Settings,
    redis_url: str,
    *,
    store: ObjectStore | None = None,
    viewers: Path | None = None,
) -> FastAPI:
    """The FastAPI application of the status service.

    ``viewers`` is the ``node_modules`` of
    :func:`workers.http.viewer_assets.install_viewers`; without it the scene page says the
    viewers are not installed.
    """
    check_token(settings)
    store = store or make_store(settings)
    app = App(settings, redis_url, store=store)
    ledger = app.ledger
    access = Access(settings, client=redis_client(redis_url))
    api = FastAPI(
        title="panodock", version="1", docs_url=None, redoc_url=None,
        openapi_url="/api/openapi.json",
    )  # fmt: skip
    api.add_middleware(AuditRequests, access=access)
    api.add_middleware(HostCheck, hosts=allowed_hosts(settings))  # outermost: runs first
    api.state.access = access
    reader = [Depends(access.require(Role.operator))]
    operator = [Depends(access.require(Role.operator, action=True))]
    admin_reads = [Depends(access.require(Role.admin))]
    admin = [Depends(access.require(Role.admin, action=True))]

    def stats() -> QueueStats:
        return queue_stats(ledger.client, QUEUE, heartbeat_seconds=settings.heartbeat_seconds)

    def last_hour() -> Activity:
        return activity(ledger, now=datetime.now(UTC))

    collector = PanodockCollector(
        queue=QUEUE, queue_stats=stats, counts=ledger.counts, activity=last_hour,
        share_requests=access.audit.share_counts,
        watchers=lambda: watcher_health(ledger.client),
    )  # fmt: skip

    def find(capture_id: str) -> Capture:
        try:
            return ledger.find(capture_id)
        except CaptureNotFound as exc:
            raise HTTPException(404, str(exc)) from exc

    @api.get("/healthz")
    def healthz() -> dict[str, str]:
        try:
            ledger.client.ping()
        except redis.RedisError as exc:
            raise HTTPException(503, f"redis unreachable: {exc}") from exc
        return {"status": "ok"}

    @api.get("/api/status", dependencies=reader)
    def status() -> dict[str, Any]:
        watchers = watcher_health(ledger.client)
        return {
            "queue": asdict(stats()),
            "workers": worker_rows(ledger.client),
            "captures": {state.value: n for state, n in ledger.counts().items()},
            # Each failure says whether a later capture of its folder or scene superseded it.
            "recent_failures": failure_rows(ledger, recent_failures(ledger)),
            "activity": last_hour().as_dict(),
            "watchers": watchers,
            "pending_folders": pending_folders(watchers),  # no capture.json, not quiet yet
            "needs_placement": needs_placement(),
            "scenes": published_scenes(),
        }

    def published_scenes(limit: int = 200) -> list[dict[str, str]]:
        return scene_rows(ledger, limit)  # site, scene and the live version's thumbnail

    def needs_placement() -> dict[str, list[str]]:
        out = {}
        for site in sorted({row["site"] for row in published_scenes()}):
            try:
                tour = Tour.model_validate_json(store.get(tour_key(site)))
            except ObjectNotFound:
                continue
            if tour.needs_placement:
                out[site] = tour.needs_placement
        return out

    @api.get("/api/floors-to-verify", dependencies=reader)
    def floors_to_verify_route() -> list[dict[str, Any]]:
        from workers.ops.status import floors_to_verify
        from workers.sites.verify import registered_sites

        return floors_to_verify(store, registered_sites(store))

    @api.get("/api/captures", dependencies=reader)
    def captures(
        state: Annotated[State | None, Query()] = None,
        site: Annotated[str | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> list[dict[str, Any]]:
        states = [state] if state else list(State)
        rows = [c for s in states for c in ledger.in_state(s, limit=limit)]
        if site:
            rows = [c for c in rows if c.site == site]
        rows.sort(key=lambda c: c.updated_at, reverse=True)
        return [c.model_dump(mode="json", include=_SUMMARY) for c in rows[:limit]]

    @api.get("/api/captures/{capture_id}", dependencies=reader)
    def capture(capture_id: str) -> dict[str, Any]:
        found = find(capture_id)
        return {
            "capture": found.model_dump(mode="json"),
            "history": [e.model_dump(mode="json") for e in ledger.history(found.id)],
        }

    @api.get("/metrics", dependencies=reader)
    def metrics() -> Response:
        return Response(exposition(collector), media_type=CONTENT_TYPE)

    @api.post("/api/captures/{capture_id}/retry", dependencies=operator)
    def retry(capture_id: str) -> dict[str, str]:
        found = find(capture_id)
        if retry_capture(app, found.id) is None:
            raise HTTPException(409, f"capture {found.id[:12]} is {found.state.value}; not retried")
        log.info("capture %s queued again by the ops console", found.id)
        return {"capture": found.id, "state": State.QUEUED.value}

    @api.post("/api/dead/requeue", dependencies=operator)
    def requeue() -> dict[str, Any]:
        jobs, deliveries = requeue_all_dead(app)
        # A delivery's arguments carry the receiver's URL and the body: counted, not shown.
        return {
            "requeued": [{"actor": j.actor, "args": list(j.args)} for j in jobs],
            "webhook_deliveries": len(deliveries),
        }

    @api.post("/api/scenes/{site}/{scene}/republish", dependencies=operator)
    def republish(site: str, scene: str) -> dict[str, str]:
        if not store.exists(current_key(site, scene)):
            raise HTTPException(404, f"scene {site}/{scene} is not published")
        moved = republish_scene(app, store, site, scene)
        if moved is None:
            raise HTTPException(409, f"the capture of {site}/{scene} is not published now")
        return {"capture": moved.id, "state": State.QUEUED.value}

    @api.get("/api/shares", dependencies=admin_reads)
    def shares(site: Annotated[str | None, Query()] = None) -> list[dict[str, object]]:
        return [share.public() for share in access.shares.list(site)]

    @api.post("/api/shares", dependencies=admin)
    def create_share(
        site: Annotated[str, Body()],
        label: Annotated[str, Body()],
        expires: Annotated[str, Body()] = "30d",
        scenes: Annotated[list[str] | None, Body()] = None,
    ) -> dict[str, object]:
        try:
            lifetime = parse_duration(expires)
        except ConfigError as exc:
            raise HTTPException(422, str(exc)) from exc
        share, secret = access.shares.create(site, expires_in=lifetime, label=label, scenes=scenes)
        return {
            "id": share.id, "url": share_url(settings, secret), "token": secret,
            "site": share.site, "expires_at": share.expires_at.isoformat(),
        }  # fmt: skip

    @api.post("/api/shares/{share_id}/revoke", dependencies=admin)
    def revoke_share(share_id: str) -> dict[str, object]:
        try:
            return access.shares.revoke(share_id).public()
        except ShareNotFound as exc:
            raise HTTPException(404, str(exc)) from exc

    api.include_router(web_router(store=store, viewers=viewers, access=access))
    api.include_router(gateway_router(access=access, store=store, app=app))
    api.include_router(review_router(access=access, store=store, app=app))
    return api


def share_url(settings: Settings, token: str) -> str:
    """The URL a share link is sent as."""
    base = settings.public_url or f"http://{settings.serve_host}:{settings.serve_port}"
    return f"{base.rstrip('/')}/s/{token}/"


def run_api(settings: Settings, redis_url: str, *, viewers_cache: Path | None = None) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn handles both).

    The scene page's viewers are installed with npm into ``viewers_cache`` (default
    ``<data_dir>/web``) first; if that fails the service still starts, without them.
    """
    import uvicorn

    from workers.http.viewer_assets import ViewersUnavailable, install_viewers

    token = settings.serve_token.get_secret_value() if settings.serve_token else None
    check_token(settings)
    check_bind(settings.serve_host, token)
    try:
        viewers: Path | None = install_viewers(viewers_cache or settings.data_dir / "web")
    except ViewersUnavailable as exc:
        log.warning("%s; the scene page will not work", exc)
        viewers = None
    config = uvicorn.Config(
        create_api(settings, redis_url, viewers=viewers),
        host=settings.serve_host,
        port=settings.serve_port,
        log_level=settings.log_level.lower(),
    )
    install_log_redaction()  # after uvicorn.Config has configured its loggers
    uvicorn.Server(config).run()
