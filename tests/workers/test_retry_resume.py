"""A retry starts where the failed attempt stopped: the checkpoint of the blurred source."""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from config.errors import StageTimeout, StoreError
from config.settings import Settings
from tests.support.pipeline import Harness, folder_candidate, write_folder
from tests.workers.test_pipeline_kinds import THETA_POSE
from workers.contract.keys import PUBLIC_PREFIXES, SceneKeys
from workers.pipeline import checkpoint
from workers.pipeline.render import RenderedTiles
from workers.pipeline.stages import privacy, render, source
from workers.queue.stage_limits import StageLimits
from workers.state.ledger import State
from workers.store.gc import collect
from workers.store.local import LocalStore

THETA = Path(__file__).parents[1] / "data" / "stitching" / "thetaS_raw_jacoblange.jpg"
#: The functions that make the source: a retry must call none of them.
SPIED = (
    (source, "decode_image"),
    (source, "stitch_dual_fisheye"),
    (source, "stitch_frames"),
    (privacy, "blur_faces"),
)


def _blurring(settings: Settings, data_dir: Path) -> Harness:
    return Harness(settings.model_copy(update={"blur": "required", "data_dir": data_dir}))


def _ingest_theta(harness: Harness, folder: Path) -> str:
    # A real Theta S frame: decoded, stitched as dual fisheye, then blurred. Its pose is
    # given (it is 3 deg off level: the level check would otherwise hold it for review).
    sidecar = {
        "site": "campus",
        "scene": "kitchen",
        "device": "RICOH THETA S",
        "orientation": THETA_POSE,
    }
    return harness.ingest(
        folder_candidate(write_folder(folder, {"R0010042.JPG": THETA.read_bytes()}, sidecar))
    )


def _published_objects(harness: Harness, keys: SceneKeys) -> dict[str, str]:
    """sha256 of every tile and preview of the version, by key relative to its prefix."""
    return {
        key.removeprefix(keys.prefix): hashlib.sha256(harness.store.get(key)).hexdigest()
        for key in harness.store.list(keys.prefix + "/")
        if key.endswith(".jpg")
    }


def _spy(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    calls: Counter[str] = Counter()
    for module, name in SPIED:
        real = getattr(module, name)

        def counted(
            *args: Any, _real: Callable[..., Any] = real, _name: str = name, **kw: Any
        ) -> Any:
            calls[_name] += 1
            return _real(*args, **kw)

        monkeypatch.setattr(module, name, counted)
    return calls


def test_a_retry_after_a_failed_tile_upload_does_not_decode_stitch_or_blur_again(
    settings: Settings, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _blurring(settings, tmp_path / "reference")
    first = _ingest_theta(reference, tmp_path / "in-1" / "kitchen")
    reference.drain()
    keys, _ = reference.published(first)
    expected = _published_objects(reference, keys)
    redis.Redis.from_url(redis_url).flushall()  # the same capture again, from scratch

    harness = _blurring(settings, tmp_path / "faulty")
    calls = _spy(monkeypatch)
    real_render_tiles = render.render_tiles

    def one_tile_put_fails(*args: Any, **kwargs: Any) -> RenderedTiles:
        harness.store.inject_faults(1)  # the next store operation is the first tile's put
        return real_render_tiles(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(render, "render_tiles", one_tile_put_fails)
        capture_id = _ingest_theta(harness, tmp_path / "in-2" / "kitchen")
        with pytest.raises(StoreError, match="injected transient failure in put .*/tiles/"):
            harness.drain()
    assert calls == Counter({"decode_image": 1, "stitch_dual_fisheye": 1, "blur_faces": 1})
    assert harness.app.ledger.get(capture_id).state == State.PROCESSING
    kept = sorted(harness.store.list("work/"))
    assert kept == sorted([checkpoint.image_key(keys), checkpoint.story_key(keys)])
    assert not any(key.startswith(PUBLIC_PREFIXES) for key in kept), "checkpoints are private"

    calls.clear()
    harness.app._process_capture(capture_id)  # dramatiq's retry
    assert calls == Counter(), "the retry started from the checkpoint"
    again, manifest = harness.published(capture_id)
    assert again == keys
    assert manifest.kind == "dual_fisheye" and manifest.privacy.blurred
    assert _published_objects(harness, keys) == expected, "the same tiles and previews"
    assert list(harness.store.list("work/")) == [], "the checkpoint goes once published"
    history = harness.app.ledger.history(capture_id)
    retried = max(i for i, e in enumerate(history) if e.kind == "retry")
    stages = [e.stage for e in history[retried:] if e.kind == "state"]
    # The checks are measured again on the restored equirect (cheap, and the same figures).
    assert stages == ["metadata", "checks", "tiles", "previews", "publish", "tour", None], stages
    notes = [e.detail or "" for e in history[retried:] if e.kind == "note"]
    assert any("source restored from work/campus/kitchen/" in n for n in notes), notes


def test_a_capture_published_at_the_first_attempt_leaves_no_checkpoint(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = Harness(settings)
    writes: list[str] = []
    real_put = LocalStore.put

    def put(self: LocalStore, key: str, data: bytes, **kwargs: Any) -> str:
        writes.append(key)
        return real_put(self, key, data, **kwargs)

    monkeypatch.setattr(LocalStore, "put", put)
    folder = write_folder(tmp_path / "hall", {"pano.jpg": small_pano_jpeg}, {"scene": "hall"})
    capture_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    harness.published(capture_id)
    assert not [k for k in writes if k.startswith("work/")], "the happy path writes no checkpoint"


def test_gc_removes_checkpoints_no_job_came_back_for(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    old, fresh = SceneKeys("s", "hall", "old"), SceneKeys("s", "hall", "fresh")
    for keys in (old, fresh):
        store.put(checkpoint.image_key(keys), b"png")
        store.put(checkpoint.story_key(keys), b"{}")
    now = time.time()
    for key in store.list(checkpoint.checkpoint_prefix(old) + "/"):
        os.utime(store.root / key, (now - 7200, now - 7200))
    dry = collect(store, grace_seconds=3600, now=now)
    assert [(v.kind, v.prefix, v.objects) for v in dry] == [("checkpoint", "work/s/hall/old/", 2)]
    collect(store, grace_seconds=3600, apply=True, now=now)
    assert sorted(store.list("work/")) == sorted(
        [checkpoint.image_key(fresh), checkpoint.story_key(fresh)]
    )


def test_a_stage_past_its_limit_is_named_and_retried_from_the_checkpoint(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = Harness(settings.model_copy(update={"stage_time_limits": {"tiles": 0.3}}))
    assert any(isinstance(m, StageLimits) for m in harness.app.broker.middleware)
    folder = write_folder(tmp_path / "hall", {"pano.jpg": small_pano_jpeg}, {"scene": "hall"})
    capture_id = harness.ingest(folder_candidate(folder))
    real_render_tiles = render.render_tiles

    def slow_store(*args: Any, **kwargs: Any) -> RenderedTiles:
        end = time.monotonic() + 5
        while time.monotonic() < end:  # Python-level work: the watchdog can interrupt it
            sum(range(1000))
        return real_render_tiles(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(render, "render_tiles", slow_store)
        with pytest.raises(StageTimeout, match="stage tiles ran past its time limit of 0.3 s"):
            harness.drain()
    retry = harness.app.ledger.history(capture_id)[-1]
    assert (retry.kind, retry.error) == ("retry", "StageTimeout")
    assert "stage tiles ran past" in (retry.detail or "")
    assert len(list(harness.store.list("work/"))) == 2, "the source was kept"
    # The retry, by a worker without the tight limit (0.3 s is too short for a loaded CI
    # machine's real tiles stage), resumes from the checkpoint the first attempt kept.
    patient = Harness(settings)
    patient.app._process_capture(capture_id)
    patient.published(capture_id)
    assert list(patient.store.list("work/")) == []
