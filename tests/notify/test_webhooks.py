"""Webhook deliveries through the queue: a real Redis, a dramatiq Worker in this process,
the pipeline publishing real captures and a receiver on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dramatiq
import pytest
from pydantic import SecretStr

from config.settings import Settings
from config.webhooks import WebhookConfig
from tests.notify.conftest import SECRET, Receiver
from tests.support.pipeline import Harness, file_candidate
from workers.cli.queue import Dead, RequeueDead
from workers.notify import (
    CAPTURE_FAILED,
    CAPTURE_QUARANTINED,
    DELIVER_WEBHOOK,
    SCENE_PUBLISHED,
    WEBHOOK_QUEUE,
    emit,
    verify_signature,
)
from workers.queue.actors import App
from workers.queue.deadletters import dead_jobs
from workers.state.ledger import State


def hooked(settings: Settings, receiver: Receiver, events: list[str], **update: object) -> Settings:
    hook = WebhookConfig(url=receiver.url, events=events, secret=SecretStr(SECRET))
    fast = {
        "webhooks": [hook],
        "webhook_max_retries": 3,
        "webhook_min_backoff_seconds": 0.05,
        "webhook_max_backoff_seconds": 0.2,
        "webhook_timeout_seconds": 2.0,
    }
    return settings.model_copy(update={**fast, **update})


@contextlib.contextmanager
def worker(app: App) -> Iterator[None]:
    app.broker.emit_after("process_boot")
    running = dramatiq.Worker(app.broker, worker_threads=2)
    running.start()
    try:
        yield
    finally:
        running.stop()


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_every_publish_sends_one_correctly_signed_event(
    settings: Settings,
    receiver: Receiver,
    tmp_path: Path,
    small_pano_jpeg: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    harness = Harness(hooked(settings, receiver, [SCENE_PUBLISHED]))
    (tmp_path / "lobby.jpg").write_bytes(small_pano_jpeg)
    capture_id = harness.ingest(file_candidate(tmp_path / "lobby.jpg"))
    with worker(harness.app):
        harness.app.enqueue(harness.queued.pop())
        wait_for(lambda: len(receiver.accepted()) == 1, "the scene.published delivery")
        harness.app.enqueue(capture_id)  # a duplicate delivery publishes nothing new
        time.sleep(1.0)
    (got,) = receiver.requests
    keys, _ = harness.published(capture_id)
    assert got.path == "/hooks/panodock"
    assert verify_signature(SECRET, got.headers["X-Panodock-Signature"], got.body)
    assert not verify_signature(
        "another-secret-entirely", got.headers["X-Panodock-Signature"], got.body
    )
    body = json.loads(got.body)
    assert set(body) == {"id", "event", "created_at", "data"}
    assert body["event"] == got.headers["X-Panodock-Event"] == SCENE_PUBLISHED
    assert body["id"] == got.headers["X-Panodock-Delivery"]
    assert got.headers["Content-Type"] == "application/json"
    assert body["data"] == {
        "site": keys.site,
        "scene": keys.scene,
        "version": keys.version,
        "capture_id": capture_id,
        "scene_json": keys.manifest,
        "current_json": keys.current,
    }
    assert "raw/" not in got.body.decode(), "no keys of originals"
    assert all(SECRET not in r.getMessage() for r in caplog.records), "the secret is never logged"


def test_a_receiver_failing_twice_still_gets_the_event(
    settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.script = [500, 503]
    harness = Harness(hooked(settings, receiver, ["*"]))
    (tmp_path / "notes.jpg").write_bytes(b"this is not a JPEG at all")
    capture_id = harness.ingest(file_candidate(tmp_path / "notes.jpg"))
    with worker(harness.app):
        harness.app.enqueue(harness.queued.pop())
        wait_for(lambda: len(receiver.accepted()) == 1, "the delivery after two failures")
    assert harness.app.ledger.get(capture_id).state == State.QUARANTINED
    assert [r.status for r in receiver.requests] == [500, 503, 200]
    ids = {r.headers["X-Panodock-Delivery"] for r in receiver.requests}
    assert len(ids) == 1, "a retry is the same delivery"
    for request in receiver.requests:
        assert verify_signature(SECRET, request.headers["X-Panodock-Signature"], request.body)
    body = json.loads(receiver.requests[-1].body)
    assert body["event"] == CAPTURE_QUARANTINED
    assert body["data"]["capture_id"] == capture_id and body["data"]["reason"]
    assert dead_jobs(harness.app.broker.client, WEBHOOK_QUEUE) == []


def test_a_receiver_that_always_fails_ends_in_the_dead_letters(
    settings: Settings,
    receiver: Receiver,
    tmp_path: Path,
    small_pano_jpeg: bytes,
    capsys: pytest.CaptureFixture[str],
) -> None:
    receiver.default = 500
    hooks = hooked(settings, receiver, [CAPTURE_FAILED], max_retries=0, webhook_max_retries=2)
    harness = Harness(hooks)
    (tmp_path / "a.jpg").write_bytes(small_pano_jpeg)
    harness.ingest(file_candidate(tmp_path / "a.jpg"))
    harness.store.inject_faults(1000)  # the store is down: the capture's retries run out
    with worker(harness.app):
        harness.app.enqueue(harness.queued.pop())
        wait_for(
            lambda: len(dead_jobs(harness.app.broker.client, WEBHOOK_QUEUE)) == 1,
            "the dead-lettered delivery",
        )
        assert len(receiver.requests) == 3, "the first attempt and its 2 retries"
        body = json.loads(receiver.requests[0].body)
        assert body["event"] == CAPTURE_FAILED, "the retries-exhausted path emits too"
        assert "gave up" in body["data"]["reason"]
        (dead,) = dead_jobs(harness.app.broker.client, WEBHOOK_QUEUE)
        assert dead.actor == DELIVER_WEBHOOK and "answered 500" in dead.last_error

        assert Dead().run(argparse.Namespace(), hooks) == 0
        listing = capsys.readouterr().out
        assert f"{WEBHOOK_QUEUE}" in listing and f"{CAPTURE_FAILED} {body['id']}" in listing
        assert "process_capture" in listing, "the dead capture job is listed too"
        assert SECRET not in listing

        receiver.default = 200  # the receiver is fixed: requeue-dead sends it again
        assert RequeueDead().run(argparse.Namespace(), hooks) == 0
        assert "1 webhook delivery" in capsys.readouterr().out
        wait_for(
            lambda: any(json.loads(r.body)["id"] == body["id"] for r in receiver.accepted()),
            f"the re-queued delivery (got {receiver.requests})",
        )


def test_redirects_are_not_followed(settings: Settings, receiver: Receiver) -> None:
    receiver.default = 302
    app = App(hooked(settings, receiver, ["*"], webhook_max_retries=1), settings.redis_url or "")
    with worker(app):
        emit(app, SCENE_PUBLISHED, {"site": "s", "scene": "hall"})
        wait_for(lambda: len(dead_jobs(app.broker.client, WEBHOOK_QUEUE)) == 1, "the dead job")
    assert [r.path for r in receiver.requests] == ["/hooks/panodock"] * 2, "never the Location"
    (dead,) = dead_jobs(app.broker.client, WEBHOOK_QUEUE)
    # The stored body carries the error of the attempt before the last one (dramatiq's nack
    # keeps the message as it was enqueued): the first attempt's, here.
    assert "answered 302 (a redirect; they are not followed" in dead.last_error


def test_emit_never_raises(
    settings: Settings, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    down = hooked(settings, receiver, ["*"])
    app = App(down, "redis://127.0.0.1:9/0")  # nothing listens there
    emit(app, SCENE_PUBLISHED, {"site": "s"})  # logged, not raised
    emit(app, "scene.deleted", {})  # an unknown event: logged, not raised
    emit(app.broker, SCENE_PUBLISHED, {"site": "s"})
    emit(object(), SCENE_PUBLISHED, {"site": "s"})  # nothing to tell
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert sum("could not queue the scene.published" in w for w in warnings) == 2
    assert any("scene.deleted" in w for w in warnings)
    assert all(SECRET not in w for w in warnings)


def test_no_webhook_configured_sends_nothing(settings: Settings) -> None:
    app = App(settings, settings.redis_url or "")
    emit(app, SCENE_PUBLISHED, {"site": "s"})
    assert app.broker.client.hlen(f"dramatiq:{WEBHOOK_QUEUE}.msgs") == 0
