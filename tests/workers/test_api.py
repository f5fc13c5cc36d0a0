"""The status service against a real Redis."""

from __future__ import annotations

import time
from pathlib import Path

import dramatiq
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from config.errors import ConfigError
from config.settings import Settings
from tests.support.pipeline import Harness, file_candidate
from workers.http.api import check_bind, create_api, run_api
from workers.queue.actors import App
from workers.queue.broker import QUEUE
from workers.queue.presence import Presence
from workers.service.redis_server import free_port
from workers.state.ledger import State

TOKEN = "t0ken-0123456789-0123456789-0123456789"


def test_status_history_and_a_retry_that_needs_the_token(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    settings = settings.model_copy(update={"serve_token": SecretStr(TOKEN)})
    harness = Harness(settings)
    (tmp_path / "ok.jpg").write_bytes(small_pano_jpeg)
    (tmp_path / "empty.jpg").write_bytes(b"")
    ok = harness.ingest(file_candidate(tmp_path / "ok.jpg"))
    bad = harness.ingest(file_candidate(tmp_path / "empty.jpg"))
    harness.drain()
    client = _client(create_api(settings, settings.redis_url or ""), settings)

    assert client.get("/healthz").json() == {"status": "ok"}
    status = client.get("/api/status").json()
    assert status["captures"]["published"] == 1 and status["captures"]["quarantined"] == 1
    assert status["recent_failures"][0]["id"] == bad
    assert "empty" in status["recent_failures"][0]["reason"]
    history = client.get(f"/api/captures/{ok[:10]}").json()
    assert history["capture"]["state"] == "published"
    assert [e["state"] for e in history["history"]][-1] == "published"
    assert client.get("/api/captures/nope").status_code == 404

    assert client.post(f"/api/captures/{bad}/retry", headers=NONE).status_code == 401
    assert client.get("/api/status", headers=NONE).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.post(f"/api/captures/{bad}/retry", headers=wrong).status_code == 403
    right = {"Authorization": f"Bearer {TOKEN}"}
    assert client.post(f"/api/captures/{bad}/retry", headers=right).json()["state"] == "queued"
    assert harness.app.ledger.get(bad).state == State.QUEUED
    assert client.post(f"/api/captures/{ok}/retry", headers=right).status_code == 409


def test_without_a_token_state_changes_are_refused(settings: Settings) -> None:
    client = _client(create_api(settings, settings.redis_url or ""), settings)
    assert client.post("/api/captures/x/retry").status_code == 401


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::", "panodock.example"])
def test_binding_beyond_loopback_needs_a_token(host: str) -> None:
    with pytest.raises(ConfigError, match="PANODOCK_SERVE_TOKEN"):
        check_bind(host, None)
    check_bind(host, "t")
    check_bind("127.0.0.1", None)
    check_bind("::1", None)


def _client(app: FastAPI, settings: Settings) -> TestClient:
    """A loopback client at an allowed Host, sending the admin token (if any) on reads."""
    token = settings.serve_token.get_secret_value() if settings.serve_token else None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return TestClient(
        app, base_url="http://localhost", client=("127.0.0.1", 50000), headers=headers
    )


NONE = {"Authorization": ""}  # overrides the client's default: no credential


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_counts_and_metrics_match_a_known_set_of_jobs(settings: Settings) -> None:
    settings = settings.model_copy(update={"serve_token": SecretStr(TOKEN)})
    url = settings.redis_url or ""
    app = App(settings, url)
    for i in range(6):
        app.enqueue(f"job-{i}")
    app.process_capture.send_with_options(args=("later",), delay=60_000)
    running = app.broker.consume(QUEUE, prefetch=2, timeout=100)
    held, doomed = next(running), next(running)
    assert held is not None and doomed is not None
    running.nack(doomed)  # dead-lettered
    gone = App(settings, url)  # a worker that took one job and died
    assert next(gone.broker.consume(QUEUE, prefetch=1, timeout=100)) is not None
    app.ledger.client.zadd("dramatiq:__heartbeats__", {gone.broker.broker_id: 0})
    presence = Presence(client=app.ledger.client, ttl=10, threads=1)
    presence.start()
    try:
        client = _client(create_api(settings, url), settings)
        queue = client.get("/api/status").json()["queue"]
        metrics_text = client.get("/metrics").text
    finally:
        presence.stop()
    expected = {"ready": 3, "delayed": 1, "in_flight": 1, "stranded": 1, "dead": 1}
    assert {k: queue[k] for k in expected} == expected
    assert queue["workers_alive"] == 1 and queue["oldest_ready_seconds"] >= 0

    families = {f.name: f for f in text_string_to_metric_families(metrics_text)}
    depth = {
        s.labels["state"]: s.value
        for s in families["panodock_queue_messages"].samples
        if s.labels["queue"] == QUEUE
    }
    assert depth == expected
    assert families["panodock_workers_alive"].samples[0].value == 1
    assert {s.labels["state"] for s in families["panodock_captures"].samples} == {
        s.value for s in State
    }

    assert client.post("/api/dead/requeue", headers=NONE).status_code == 401
    answer = client.post("/api/dead/requeue", headers=_headers(TOKEN)).json()
    assert answer["requeued"] == [{"actor": "process_capture", "args": ["job-1"]}]
    queue = client.get("/api/status").json()["queue"]
    # Enqueueing ran the broker's maintenance, which also gave back the dead worker's job.
    assert (queue["dead"], queue["stranded"], queue["ready"]) == (0, 0, 3 + 1 + 1)


def test_a_retry_moves_a_failed_capture_back_through_the_pipeline(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    settings = settings.model_copy(update={"serve_token": SecretStr(TOKEN)})
    harness = Harness(settings)
    (tmp_path / "hall.jpg").write_bytes(small_pano_jpeg)
    capture_id = harness.ingest(file_candidate(tmp_path / "hall.jpg"))
    harness.queued.clear()  # as if the job had run out of retries:
    harness.app.ledger.transition(capture_id, State.FAILED, reason="gave up: store unreachable")
    client = _client(create_api(settings, settings.redis_url or "", store=harness.store), settings)
    assert client.get("/api/captures", params={"state": "failed"}).json()[0]["id"] == capture_id

    answer = client.post(f"/api/captures/{capture_id[:10]}/retry", headers=_headers(TOKEN))
    assert answer.json() == {"capture": capture_id, "state": "queued"}
    worker_app = App(settings, settings.redis_url or "", store=harness.store)
    worker = dramatiq.Worker(worker_app.broker, worker_threads=1)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while harness.app.ledger.get(capture_id).state != State.PUBLISHED:
            assert time.monotonic() < deadline, harness.app.ledger.history(capture_id)
            time.sleep(0.1)
    finally:
        worker.stop()
    states = [e.state for e in harness.app.ledger.history(capture_id)]
    assert states[-1] == State.PUBLISHED
    assert states.index(State.FAILED) < states.index(State.PUBLISHED)
    scene = harness.app.ledger.get(capture_id)
    assert client.get(f"/objects/scenes/{scene.site}/{scene.scene}/current.json").status_code == 200
    assert client.get(f"/objects/{scene.files[0].key}").status_code == 404  # originals stay private

    # Re-publishing the scene runs its capture again (it finds its version complete).
    assert (
        client.post(f"/api/scenes/{scene.site}/{scene.scene}/republish", headers=NONE).status_code
        == 401
    )
    again = client.post(
        f"/api/scenes/{scene.site}/{scene.scene}/republish", headers=_headers(TOKEN)
    )
    assert again.json() == {"capture": capture_id, "state": "queued"}


def test_a_non_loopback_bind_without_a_token_does_not_start(settings: Settings) -> None:
    settings = settings.model_copy(update={"serve_host": "0.0.0.0", "serve_port": free_port()})
    with pytest.raises(ConfigError, match="without a token"):
        run_api(settings, settings.redis_url or "")
