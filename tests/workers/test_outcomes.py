"""One outcome table: quarantine, fail or retry, for the actor body and for dramatiq alike."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq.middleware import TimeLimitExceeded
from minio.error import S3Error

from config.errors import (
    CaptureError,
    ConfigError,
    ObjectNotFound,
    QuarantineError,
    StageTimeout,
    StoreError,
)
from config.outcomes import is_unexpected, outcome, s3_code_outcome
from config.settings import Settings
from tests.support.pipeline import Harness, file_candidate
from workers.ops.status import activity
from workers.pipeline.stages import render
from workers.queue.broker import QUEUE, retry_when
from workers.queue.deadletters import dead_jobs
from workers.state.ledger import State


def _from_s3(code: str) -> StoreError:
    """A StoreError raised from an S3Error, as workers/store/s3.py raises them."""
    try:
        raise S3Error(None, code, "message", "/bucket/key", "req", "host")  # type: ignore[arg-type]
    except S3Error as s3:
        try:
            raise StoreError(f"S3 put s3://bucket/key failed ({code})") from s3
        except StoreError as exc:
            return exc


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (QuarantineError("a.jpg is empty"), "quarantine"),
        (CaptureError("lens 2 image is truncated"), "fail"),
        (ConfigError("cannot read the face detection model"), "fail"),
        (StoreError("local store: cannot write"), "retry"),
        (ObjectNotFound("no object raw/x"), "retry"),
        (StageTimeout("stage tiles ran past its time limit"), "retry"),
        (redis.ConnectionError("Connection refused"), "retry"),
        (TimeLimitExceeded(), "retry"),
        (ConnectionResetError(), "retry"),
        (OSError("No space left on device"), "retry"),
        (KeyError("face"), "fail"),
        (TypeError("unsupported operand"), "fail"),
        (_from_s3("SlowDown"), "retry"),
        (_from_s3("InternalError"), "retry"),
        (_from_s3("AccessDenied"), "fail"),
        (_from_s3("NoSuchBucket"), "fail"),
        (_from_s3("EntityTooLarge"), "retry"),  # the code does not decide: a StoreError
        (KeyboardInterrupt(), "retry"),  # the process was interrupted, the job did not end
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v,
)
def test_the_table_decides_every_kind_of_failure(exc: BaseException, expected: str) -> None:
    assert outcome(exc) == expected
    assert retry_when(5)(0, exc) is (expected == "retry"), "dramatiq asks the same table"


def test_only_unknown_exceptions_count_as_unexpected() -> None:
    assert is_unexpected(KeyError("face")) and is_unexpected(ZeroDivisionError())
    assert not is_unexpected(CaptureError("x")) and not is_unexpected(OSError())
    assert not is_unexpected(_from_s3("AccessDenied"))
    assert s3_code_outcome("RequestTimeout") == "retry" and s3_code_outcome("NoSuchKey") is None


def test_dramatiq_stops_retrying_when_the_retries_run_out() -> None:
    should = retry_when(2)
    assert should(0, StoreError("x")) and should(1, StoreError("x"))
    assert not should(2, StoreError("x"))


def _broken_tiles(exc: BaseException) -> Any:
    def render_tiles(*args: object, **kwargs: object) -> None:
        raise exc

    return render_tiles


def test_a_key_error_inside_a_stage_fails_the_capture_at_once_with_its_traceback(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = Harness(settings)
    (tmp_path / "a.jpg").write_bytes(small_pano_jpeg)
    capture_id = harness.ingest(file_candidate(tmp_path / "a.jpg"))
    monkeypatch.setattr(render, "render_tiles", _broken_tiles(KeyError("face")))
    harness.drain()  # returns: nothing for dramatiq to retry
    capture = harness.app.ledger.get(capture_id)
    assert capture.state == State.FAILED
    assert "unexpected KeyError: 'face'" in (capture.reason or "")
    assert f"panodock retry {capture_id[:12]}" in (capture.reason or "")
    history = harness.app.ledger.history(capture_id)
    last = history[-1]
    assert last.state == State.FAILED and last.error == "KeyError"
    assert (last.detail or "").startswith("Traceback (most recent call last)")
    assert "render_tiles" in (last.detail or "") and "KeyError: 'face'" in (last.detail or "")
    assert not [e for e in history if e.kind == "retry"]


@pytest.mark.parametrize(
    "exc", [OSError("No space left on device"), StoreError("S3 put failed")], ids=repr
)
def test_os_and_store_errors_are_still_retried(
    settings: Settings,
    tmp_path: Path,
    small_pano_jpeg: bytes,
    monkeypatch: pytest.MonkeyPatch,
    exc: Exception,
) -> None:
    harness = Harness(settings)
    (tmp_path / "a.jpg").write_bytes(small_pano_jpeg)
    capture_id = harness.ingest(file_candidate(tmp_path / "a.jpg"))
    with monkeypatch.context() as patch:
        patch.setattr(render, "render_tiles", _broken_tiles(exc))
        with pytest.raises(type(exc)):
            harness.drain()
    assert harness.app.ledger.get(capture_id).state == State.PROCESSING
    retry = harness.app.ledger.history(capture_id)[-1]
    assert (retry.kind, retry.attempt, retry.error) == ("retry", 1, type(exc).__name__)
    assert "2 retries left" in (retry.detail or "")
    harness.app._process_capture(capture_id)  # the retry, the fault gone
    harness.published(capture_id)


def test_a_worker_fails_an_unexpected_error_once_and_does_not_retry_it(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = Harness(settings.model_copy(update={"max_retries": 3}))
    (tmp_path / "a.jpg").write_bytes(small_pano_jpeg)
    capture_id = harness.ingest(file_candidate(tmp_path / "a.jpg"))
    harness.queued.clear()
    runs: list[int] = []

    def broken(*args: object, **kwargs: object) -> None:
        runs.append(1)
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr(render, "render_tiles", broken)
    broker = harness.app.broker
    broker.emit_after("process_boot")
    worker = dramatiq.Worker(broker, worker_threads=1)
    worker.start()
    try:
        harness.app.enqueue(capture_id)
        deadline = time.monotonic() + 30
        while harness.app.ledger.get(capture_id).state != State.FAILED:
            assert time.monotonic() < deadline, harness.app.ledger.history(capture_id)
            time.sleep(0.1)
        time.sleep(2.5)  # a retry would come within 1 s (min_backoff) of the failure
    finally:
        worker.stop()
    assert runs == [1], "one attempt, no retries"
    assert dead_jobs(broker.client, QUEUE) == []
    capture = harness.app.ledger.get(capture_id)
    assert capture.state == State.FAILED and "unexpected TypeError" in (capture.reason or "")


def test_the_status_counts_typed_retry_events(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    harness = Harness(settings)
    (tmp_path / "a.jpg").write_bytes(small_pano_jpeg)
    capture_id = harness.ingest(file_candidate(tmp_path / "a.jpg"))
    ledger = harness.app.ledger
    ledger.note(capture_id, "an operator wrote: will retry tomorrow")  # text counts for nothing
    ledger.note_retry(capture_id, attempt=1, error="StoreError", detail="attempt 1 failed")
    ledger.note_retry(capture_id, attempt=2, error="StoreError", detail="attempt 2 failed")
    assert activity(ledger, now=datetime.now(UTC)).retries == 2
