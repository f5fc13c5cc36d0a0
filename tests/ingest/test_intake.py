"""The intake records a capture queued before it sends the job, and sends it once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import redis

from config.errors import StoreError
from config.settings import Settings
from ingest.intake import ChangedWhileReading
from tests.support.pipeline import Harness, file_candidate
from workers.state.ledger import State


def test_a_worker_that_finishes_before_the_intake_returns_leaves_the_capture_published(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    harness = Harness(settings)
    # A fast worker: the job runs to its end while the intake is still sending it.
    harness.intake.enqueue = harness.app._process_capture
    (tmp_path / "lobby.jpg").write_bytes(small_pano_jpeg)
    capture_id = harness.ingest(file_candidate(tmp_path / "lobby.jpg"))
    capture = harness.app.ledger.get(capture_id)
    history = harness.app.ledger.history(capture_id)
    assert capture.state == State.PUBLISHED, [(e.state, e.stage, e.detail) for e in history]
    states = [e.state for e in history if e.kind == "state"]
    assert states[:3] == [State.RECEIVED, State.ARCHIVED, State.QUEUED]
    assert states[-1] == State.PUBLISHED and states.count(State.QUEUED) == 1
    harness.published(capture_id)


def test_intakes_racing_to_queue_one_capture_send_one_job(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    harness = Harness(settings)
    harness.intake.enqueue = lambda capture_id: None  # archived, never sent: a crash
    (tmp_path / "a.jpg").write_bytes(small_pano_jpeg)
    capture_id = harness.ingest(file_candidate(tmp_path / "a.jpg"))
    harness.app.ledger.transition(capture_id, State.ARCHIVED)
    sent: list[str] = []
    harness.intake.enqueue = sent.append
    barrier = threading.Barrier(6)

    def restart() -> None:  # six watchers starting at once, each requeueing what it finds
        barrier.wait()
        harness.intake.requeue_unfinished()

    threads = [threading.Thread(target=restart) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sent == [capture_id]
    assert harness.app.ledger.get(capture_id).state == State.QUEUED


def test_a_job_that_cannot_be_sent_leaves_the_capture_to_queue_again(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    harness = Harness(settings)

    def broker_down(capture_id: str) -> None:
        raise redis.ConnectionError("Error 111 connecting to broker:6379. Connection refused.")

    harness.intake.enqueue = broker_down
    (tmp_path / "a.jpg").write_bytes(small_pano_jpeg)
    with pytest.raises(redis.ConnectionError):
        harness.ingest(file_candidate(tmp_path / "a.jpg"))
    [capture] = harness.app.ledger.in_state(State.ARCHIVED)
    assert "sending the job failed" in (harness.app.ledger.history(capture.id)[-1].detail or "")
    harness.intake.enqueue = harness.queued.append
    assert harness.intake.requeue_unfinished() == 1
    assert harness.queued == [capture.id]
    harness.drain()
    harness.published(capture.id)


def test_a_capture_is_recorded_before_its_archive_and_archived_when_seen_again(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    harness = Harness(settings)
    (tmp_path / "a.jpg").write_bytes(small_pano_jpeg)
    harness.store.inject_faults(1)  # the upload fails: a crash between record and archive
    with pytest.raises(StoreError):
        harness.ingest(file_candidate(tmp_path / "a.jpg"))
    [capture] = harness.app.ledger.in_state(State.RECEIVED)
    assert list(harness.store.list("raw/")) == []
    assert harness.intake.requeue_unfinished() == 0  # nothing to work on yet: not queued
    assert harness.ingest(file_candidate(tmp_path / "a.jpg")) == capture.id  # the rescan
    assert list(harness.store.list("raw/")) == [capture.files[0].key]
    assert harness.queued == [capture.id]
    harness.drain()
    harness.published(capture.id)


def test_a_file_that_changes_while_it_is_archived_is_not_archived_under_a_wrong_hash(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    harness = Harness(settings)
    path = tmp_path / "a.jpg"
    path.write_bytes(small_pano_jpeg)
    real_put_file = harness.store.put_file

    def put_file_while_a_writer_appends(key: str, source: Path, **kwargs: str) -> str:
        with source.open("ab") as out:
            out.write(b"more")
        return real_put_file(key, source, **kwargs)

    harness.store.put_file = put_file_while_a_writer_appends  # type: ignore[method-assign]
    with pytest.raises(ChangedWhileReading):
        harness.ingest(file_candidate(path))
    assert list(harness.store.list("raw/")) == []
    [capture] = harness.app.ledger.in_state(State.QUARANTINED)  # ended, not left unfinished
    assert "changed while it was archived" in (capture.reason or "")
    harness.store.put_file = real_put_file  # type: ignore[method-assign]
    grown = harness.ingest(file_candidate(path))  # the rescan, once it settled
    assert grown != capture.id and harness.queued == [grown]


def test_a_file_refused_by_its_size_is_taken_once_the_limit_is_raised(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    path = tmp_path / "hall.jpg"
    path.write_bytes(small_pano_jpeg)
    small = Harness(settings.model_copy(update={"max_file_bytes": 1000}))
    refused = small.ingest(file_candidate(path))
    assert small.ingest(file_candidate(path)) == refused  # a rescan records nothing new
    capture = small.app.ledger.get(refused)
    assert capture.state == State.QUARANTINED and small.queued == []
    assert f"hall.jpg is {len(small_pano_jpeg) / 1024:.1f} KiB" in (capture.reason or "")
    assert list(small.store.list("raw/")) == []

    harness = Harness(settings)  # restarted with the default limit
    taken = harness.ingest(file_candidate(path))
    assert taken != refused and harness.queued == [taken]
    harness.drain()
    harness.published(taken)
