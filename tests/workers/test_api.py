"""The status service against a real Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from config.errors import ConfigError
from config.settings import Settings
from tests.workers.helpers import Harness, file_candidate
from workers.api import check_bind, create_api
from workers.ledger import State


def test_status_history_and_a_retry_that_needs_the_token(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    settings = settings.model_copy(update={"serve_token": SecretStr("s3cret")})
    harness = Harness(settings)
    (tmp_path / "ok.jpg").write_bytes(small_pano_jpeg)
    (tmp_path / "empty.jpg").write_bytes(b"")
    ok = harness.ingest(file_candidate(tmp_path / "ok.jpg"))
    bad = harness.ingest(file_candidate(tmp_path / "empty.jpg"))
    harness.drain()
    client = TestClient(create_api(settings, settings.redis_url or ""))

    assert client.get("/healthz").json() == {"status": "ok"}
    status = client.get("/api/status").json()
    assert status["captures"]["published"] == 1 and status["captures"]["quarantined"] == 1
    assert status["recent_failures"][0]["id"] == bad
    assert "empty" in status["recent_failures"][0]["reason"]
    history = client.get(f"/api/captures/{ok[:10]}").json()
    assert history["capture"]["state"] == "published"
    assert [e["state"] for e in history["history"]][-1] == "published"
    assert client.get("/api/captures/nope").status_code == 404

    assert client.post(f"/api/captures/{bad}/retry").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.post(f"/api/captures/{bad}/retry", headers=wrong).status_code == 401
    right = {"Authorization": "Bearer s3cret"}
    assert client.post(f"/api/captures/{bad}/retry", headers=right).json()["state"] == "queued"
    assert harness.app.ledger.get(bad).state == State.QUEUED
    assert client.post(f"/api/captures/{ok}/retry", headers=right).status_code == 409


def test_without_a_token_state_changes_are_refused(settings: Settings) -> None:
    client = TestClient(create_api(settings, settings.redis_url or ""))
    assert client.post("/api/captures/x/retry").status_code == 401


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::", "panodock.example"])
def test_binding_beyond_loopback_needs_a_token(host: str) -> None:
    with pytest.raises(ConfigError, match="PANODOCK_SERVE_TOKEN"):
        check_bind(host, None)
    check_bind(host, "t")
    check_bind("127.0.0.1", None)
    check_bind("::1", None)
