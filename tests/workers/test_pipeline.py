"""The pipeline on real Redis and a local store: contract, idempotence, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from config.settings import Settings
from tests.conftest import jpeg_bytes
from tests.support.pipeline import (
    Harness,
    file_candidate,
    folder_candidate,
    gpano_xmp,
    with_declared_size,
    with_xmp,
    write_folder,
)
from workers.contract.keys import raw_key
from workers.pipeline.render import iter_tile_keys
from workers.pipeline.stages import publish
from workers.state.ledger import State


@pytest.fixture
def harness(settings: Settings) -> Harness:
    return Harness(settings)


def test_equirect_capture_is_published_in_the_contract_layout(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    path = tmp_path / "Lobby 1.jpg"
    path.write_bytes(small_pano_jpeg)
    capture_id = harness.ingest(file_candidate(path))
    harness.drain()
    keys, manifest = harness.published(capture_id)

    assert keys.scene.startswith("lobby-1-") and manifest.schema_ == "panodock.scene/1"
    # 1024 wide: ideal face 326 px -> one 512 px... the layout picks face = tile x 2^k
    assert manifest.tiles.face_size == manifest.tiles.tile_size * 2 ** (
        len(manifest.tiles.levels) - 1
    )
    promised = list(iter_tile_keys(keys, manifest.tiles))
    assert len(promised) == manifest.tiles.count
    for key, side in promised:
        tile = cv2.imdecode(np.frombuffer(harness.store.get(key), np.uint8), cv2.IMREAD_COLOR)
        assert tile is not None and tile.shape == (side, side, 3), key
    on_disk = [k for k in harness.store.list(keys.tiles + "/")]
    assert sorted(on_disk) == sorted(k for k, _ in promised), "no tile outside the manifest"
    for ref in (manifest.preview, manifest.thumb, manifest.equirect):
        img = cv2.imdecode(np.frombuffer(harness.store.get(ref.key), np.uint8), cv2.IMREAD_COLOR)
        assert img.shape[:2] == (ref.height, ref.width)
    assert (manifest.preview.width, manifest.preview.height) == (256, 1536)
    # The original was archived byte for byte under raw/<sha256>/<name>.
    source = manifest.sources[0]
    assert harness.store.get(raw_key(source.sha256, "Lobby 1.jpg")) == small_pano_jpeg
    pann = manifest.viewers["pannellum"]["multiRes"]
    assert pann["basePath"] == keys.tiles and pann["cubeResolution"] == manifest.tiles.face_size
    assert pann["maxLevel"] == len(manifest.tiles.levels)
    marz = manifest.viewers["marzipano"]
    assert marz["levels"][0] == {"tileSize": 256, "size": 256, "fallbackOnly": True}
    assert marz["cubeMapPreviewUrl"] == manifest.preview.key
    psv = manifest.viewers["photo_sphere_viewer"]["panorama"]
    assert psv["flipTopBottom"] is True
    assert [lv["faceSize"] for lv in psv["levels"]] == [lv.size for lv in manifest.tiles.levels]


def test_a_redelivered_job_after_publication_changes_nothing(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(small_pano_jpeg)
    capture_id = harness.ingest(file_candidate(path))
    harness.drain()
    harness.published(capture_id)
    before = {k: harness.store.head(k) for k in harness.store.list("scenes/")}
    harness.app._process_capture(capture_id)  # at-least-once: the message comes again
    after = {k: harness.store.head(k) for k in harness.store.list("scenes/")}
    assert before == after
    assert [e.state for e in harness.app.ledger.history(capture_id)].count(State.PUBLISHED) == 1


def test_a_crash_before_the_pointer_swap_is_finished_by_the_retry(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(small_pano_jpeg)
    capture_id = harness.ingest(file_candidate(path))

    class Killed(BaseException):
        """Stands in for SIGKILL between writing scene.json and current.json."""

    def die(*args: object, **kwargs: object) -> None:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(publish, "swap_pointer", die)
        with pytest.raises(Killed):
            harness.drain()
    capture = harness.app.ledger.get(capture_id)
    assert capture.state == State.PROCESSING
    assert not list(harness.store.list(f"scenes/{capture.site}/{capture.scene}/current"))
    tiles_before = {k: harness.store.head(k) for k in harness.store.list("scenes/")}

    harness.app._process_capture(capture_id)  # the redelivered message
    keys, _ = harness.published(capture_id)
    tiles_after = {
        k: v
        for k, v in ((k, harness.store.head(k)) for k in harness.store.list("scenes/"))
        if k != keys.current
    }
    assert tiles_after == tiles_before, "the finished version was reused, not rebuilt"
    history = harness.app.ledger.history(capture_id)
    assert [e.state for e in history].count(State.PUBLISHED) == 1
    assert any("complete already" in (e.detail or "") for e in history)


def test_same_file_twice_is_one_capture(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    (tmp_path / "a.jpg").write_bytes(small_pano_jpeg)
    (tmp_path / "copy of a.jpg").write_bytes(small_pano_jpeg)
    first = harness.ingest(file_candidate(tmp_path / "a.jpg"))
    second = harness.ingest(file_candidate(tmp_path / "copy of a.jpg"))
    assert first == second
    assert harness.queued == [first]
    assert any("seen again" in (e.detail or "") for e in harness.app.ledger.history(first))


def test_the_same_file_rescanned_in_place_adds_nothing_to_its_history(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(small_pano_jpeg)
    first = harness.ingest(file_candidate(path))
    events = len(harness.app.ledger.history(first))
    os.utime(path, ns=(1, 1))  # a new fingerprint: hashed again, found to be the same
    assert harness.ingest(file_candidate(path)) == first
    assert len(harness.app.ledger.history(first)) == events
    assert harness.queued == [first]


def test_gpano_pose_is_recorded_and_heading_kept(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    sidecar = {
        "capture_id": "room-101",
        "site": "north-campus",
        "scene": "room-101",
        "files": [],
        "orientation": {"heading_deg": 30.0, "pitch_deg": 4.0, "roll_deg": -2.0},
        "room": "101",
    }
    folder = write_folder(tmp_path / "room101", {"pano.jpg": small_pano_jpeg}, sidecar)
    capture_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    keys, manifest = harness.published(capture_id)
    assert (keys.site, keys.scene) == ("north-campus", "room-101")
    assert manifest.levelling.model_dump() == {
        "pitch_deg": 4.0,
        "roll_deg": -2.0,
        "source": "sidecar",
    }
    assert manifest.heading.heading_deg == 30.0 and manifest.heading.source == "sidecar"
    assert manifest.viewers["pannellum"]["northOffset"] == 30.0
    assert manifest.metadata["room"] == "101"


def _bad_inputs(pano: bytes) -> dict[str, tuple[bytes, str]]:
    wide = cv2.imdecode(np.frombuffer(pano, np.uint8), cv2.IMREAD_COLOR)
    three_to_one = jpeg_bytes(cv2.resize(wide, (1536, 512)))
    return {
        "empty.jpg": (b"", "empty"),
        "truncated.jpg": (pano[: len(pano) // 2], "truncated"),
        "notes.jpg": (b"Lobby, take 2: battery died\n" * 20, "not an image"),
        "bomb.jpg": (with_declared_size(pano, 60000, 30000), "60000x30000"),
        "wide.jpg": (three_to_one, "not a 2:1"),
    }


def test_bad_inputs_are_quarantined_with_reasons_and_the_rest_goes_on(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    bad = _bad_inputs(small_pano_jpeg)
    ids = {}
    for name, (data, _) in bad.items():
        (tmp_path / name).write_bytes(data)
        ids[name] = harness.ingest(file_candidate(tmp_path / name))
    folder = write_folder(tmp_path / "gym", {"pano.jpg": small_pano_jpeg}, b'{"site": "x",,}')
    ids["gym/capture.json"] = harness.ingest(folder_candidate(folder))
    (tmp_path / "good.jpg").write_bytes(small_pano_jpeg)
    good = harness.ingest(file_candidate(tmp_path / "good.jpg"))
    harness.drain()

    for name, (data, words) in bad.items():
        capture = harness.app.ledger.get(ids[name])
        assert capture.state == State.QUARANTINED, (name, capture.state, capture.reason)
        assert words in capture.reason, (name, capture.reason)
        assert name in capture.reason, "the reason names the file"
        assert harness.store.get(capture.files[0].key) == data, "original archived"
    sidecar_capture = harness.app.ledger.get(ids["gym/capture.json"])
    assert sidecar_capture.state == State.QUARANTINED
    assert "capture.json" in sidecar_capture.reason
    assert {f.name for f in sidecar_capture.files} == {"capture.json", "pano.jpg"}
    assert all(harness.store.exists(f.key) for f in sidecar_capture.files)
    harness.published(good)


def test_infrastructure_failures_are_retried_then_reported(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    (tmp_path / "a.jpg").write_bytes(small_pano_jpeg)
    capture_id = harness.ingest(file_candidate(tmp_path / "a.jpg"))
    harness.store.inject_faults(1)
    with pytest.raises(Exception, match="injected"):
        harness.drain()
    capture = harness.app.ledger.get(capture_id)
    assert capture.state == State.PROCESSING
    last = harness.app.ledger.history(capture_id)[-1]
    assert (last.kind, last.attempt, last.error) == ("retry", 1, "StoreError"), last
    harness.app._process_capture(capture_id)  # dramatiq's retry
    harness.published(capture_id)

    # When retries run out, the capture says why; a published one is left alone.
    pano = cv2.imdecode(np.frombuffer(small_pano_jpeg, np.uint8), cv2.IMREAD_COLOR)
    (tmp_path / "b.jpg").write_bytes(jpeg_bytes(pano, quality=70))
    other = harness.ingest(file_candidate(tmp_path / "b.jpg"))
    for cid in (capture_id, other):
        harness.app._capture_gave_up(
            {"args": [cid], "options": {"traceback": "Traceback\nStoreError: disk full"}},
            {"retries": 5},
        )
    gave_up = harness.app.ledger.get(other)
    assert gave_up.state == State.FAILED and "disk full" in (gave_up.reason or "")
    assert harness.app.ledger.get(capture_id).state == State.PUBLISHED


def test_manifest_is_valid_json_with_schema(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    (tmp_path / "a.jpg").write_bytes(small_pano_jpeg)
    capture_id = harness.ingest(file_candidate(tmp_path / "a.jpg"))
    harness.drain()
    keys, manifest = harness.published(capture_id)
    raw = json.loads(harness.store.get(keys.manifest))
    assert raw["schema"] == "panodock.scene/1"
    assert json.loads(harness.store.get(keys.current))["schema"] == "panodock.current/1"


def test_partial_panorama_is_placed_on_the_sphere(
    harness: Harness, tmp_path: Path, pano: np.ndarray
) -> None:
    # The real Google Cardboard Camera XMP: a 9344x1613 strip of a 9344x4672 sphere, top 1932.
    xml = (Path(__file__).parents[1] / "data" / "metadata" / "xmp-gpano-main.xml").read_bytes()
    full = cv2.resize(pano, (1024, 512), interpolation=cv2.INTER_AREA)
    top = round(1932 * 512 / 4672)
    strip = full[top : top + 177]  # 1613 * 1024 / 9344 = 176.8 rows: a downscaled export
    (tmp_path / "cardboard.jpg").write_bytes(with_xmp(jpeg_bytes(strip, 95), xml))
    capture_id = harness.ingest(file_candidate(tmp_path / "cardboard.jpg"))
    harness.drain()
    _, manifest = harness.published(capture_id)
    assert manifest.partial and manifest.source_size == (1024, 512)
    master = cv2.imdecode(
        np.frombuffer(harness.store.get(manifest.equirect.key), np.uint8), cv2.IMREAD_COLOR
    )
    assert master[: top - 4].max() < 30, "above the strip is empty sky-less canvas"
    band = master[top + 10 : top + 160].astype(float)
    assert np.abs(band - full[top + 10 : top + 160]).mean() < 6, "the strip sits where GPano says"


def test_gpano_pose_levels_the_horizon(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    xml = gpano_xmp(PosePitchDegrees=6.5, PoseRollDegrees=-3, PoseHeadingDegrees=400)
    (tmp_path / "tilted.jpg").write_bytes(with_xmp(small_pano_jpeg, xml))
    capture_id = harness.ingest(file_candidate(tmp_path / "tilted.jpg"))
    harness.drain()
    _, manifest = harness.published(capture_id)
    assert manifest.levelling.model_dump() == {
        "pitch_deg": 6.5,
        "roll_deg": -3.0,
        "source": "gpano",
    }
    assert manifest.heading.heading_deg == 40.0 and manifest.heading.source == "gpano"


def test_gpano_claiming_a_huge_sphere_is_refused(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    strip = cv2.imdecode(np.frombuffer(small_pano_jpeg, np.uint8), cv2.IMREAD_COLOR)[:64]
    xml = gpano_xmp(
        FullPanoWidthPixels=1024 * 64, FullPanoHeightPixels=512 * 64, CroppedAreaLeftPixels=0,
        CroppedAreaTopPixels=0, CroppedAreaImageWidthPixels=1024, CroppedAreaImageHeightPixels=64,
    )  # fmt: skip
    (tmp_path / "strip.jpg").write_bytes(with_xmp(jpeg_bytes(strip), xml))
    capture_id = harness.ingest(file_candidate(tmp_path / "strip.jpg"))
    harness.drain()
    capture = harness.app.ledger.get(capture_id)
    assert capture.state == State.QUARANTINED
    assert "strip.jpg" in (capture.reason or "") and "GPano" in (capture.reason or "")
