"""The status service (``panodock serve``): a JSON view of the queue and the ledger.

Bound to 127.0.0.1 by default. Binding any other address requires a token
(``PANODOCK_SERVE_TOKEN``), and every state-changing endpoint always requires it, sent as
``Authorization: Bearer <token>``. The operations console of the ops issue builds on this.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import asdict
from typing import Annotated, Any

import redis
from fastapi import Depends, FastAPI, Header, HTTPException

from config.errors import ConfigError
from config.settings import Settings
from workers.app import QUEUE, App
from workers.ledger import CaptureNotFound, State
from workers.status import queue_stats, recent_failures


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


def create_api(settings: Settings, redis_url: str) -> FastAPI:
    """The FastAPI application of the status service."""
    app = App(settings, redis_url)
    ledger = app.ledger
    token = settings.serve_token.get_secret_value() if settings.serve_token else None
    api = FastAPI(
        title="panodock", version="1", docs_url="/api/docs", openapi_url="/api/openapi.json"
    )

    def require_token(authorization: Annotated[str | None, Header()] = None) -> None:
        sent = (authorization or "").removeprefix("Bearer ").strip()
        if not token or not hmac.compare_digest(sent.encode(), token.encode()):
            raise HTTPException(
                401, "this action needs the service token (Authorization: Bearer …)"
            )

    @api.get("/healthz")
    def healthz() -> dict[str, str]:
        try:
            ledger.client.ping()
        except redis.RedisError as exc:
            raise HTTPException(503, f"redis unreachable: {exc}") from exc
        return {"status": "ok"}

    @api.get("/api/status")
    def status() -> dict[str, Any]:
        stats = queue_stats(ledger.client, QUEUE, heartbeat_seconds=settings.heartbeat_seconds)
        return {
            "queue": asdict(stats),
            "captures": {state.value: n for state, n in ledger.counts().items()},
            "recent_failures": [
                c.model_dump(mode="json", include={"id", "state", "reason", "source", "updated_at"})
                for c in recent_failures(ledger)
            ],
        }

    @api.get("/api/captures/{capture_id}")
    def capture(capture_id: str) -> dict[str, Any]:
        try:
            found = ledger.find(capture_id)
        except CaptureNotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        return {
            "capture": found.model_dump(mode="json"),
            "history": [e.model_dump(mode="json") for e in ledger.history(found.id)],
        }

    @api.post("/api/captures/{capture_id}/retry", dependencies=[Depends(require_token)])
    def retry(capture_id: str) -> dict[str, str]:
        try:
            found = ledger.find(capture_id)
        except CaptureNotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        moved = ledger.transition(
            found.id,
            State.QUEUED,
            expect={State.FAILED, State.QUARANTINED},
            detail="retry requested",
        )
        if moved is None:
            raise HTTPException(409, f"capture {found.id[:12]} is {found.state.value}; not retried")
        app.enqueue(found.id)
        return {"capture": found.id, "state": State.QUEUED.value}

    return api


def run_api(settings: Settings, redis_url: str) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn handles both)."""
    import uvicorn

    token = settings.serve_token.get_secret_value() if settings.serve_token else None
    check_bind(settings.serve_host, token)
    uvicorn.run(
        create_api(settings, redis_url),
        host=settings.serve_host,
        port=settings.serve_port,
        log_level=settings.log_level.lower(),
    )
