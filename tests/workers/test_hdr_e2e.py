"""HDR brackets through the whole pipeline: recognised, lined up, fused, recorded in scene.json.

The brackets are rendered from real images (the sample panorama, a real Theta S frame) by
:func:`tests.stitching.test_hdr.render_brackets`, and written as JPEGs with the EXIF a
bracketing camera writes (ExposureTime, ExposureBiasValue).
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from config.settings import Settings
from stitching.hdr import shift_image
from tests.stitching.test_hdr import EVS, SHIFTS, render_brackets, tone_matched_psnr
from tests.support.pipeline import Harness, folder_candidate, write_folder
from workers.contract.keys import SceneKeys
from workers.contract.scene import Brackets, SceneManifest
from workers.pipeline import checkpoint
from workers.pipeline.job import Source
from workers.state.ledger import State
from workers.store.local import LocalStore

DATA = Path(__file__).parents[1] / "data"
NAMES = ("R0010001.JPG", "R0010002.JPG", "R0010003.JPG")
#: ExposureTime of the brackets of EVS as a camera writes them (nominal shutter speeds).
TIMES = (1 / 1000, 1 / 250, 1 / 60)


@pytest.fixture
def harness(settings: Settings) -> Harness:
    return Harness(settings)


@pytest.fixture(scope="module")
def source() -> np.ndarray:
    image = cv2.imread(str(DATA / "pannellum_examplepano.jpg"), cv2.IMREAD_COLOR)
    assert image is not None
    return cv2.resize(image, (2048, 1024), interpolation=cv2.INTER_AREA)


def jpeg(image: np.ndarray, *, exposure_s: float | None = None, bias_ev: float | None = None,
         model: str = "RICOH THETA Z1") -> bytes:  # fmt: skip
    """The BGR image as a camera's JPEG, with the exposure EXIF given."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "RICOH", model  # Make, Model
    ifd = exif.get_ifd(0x8769)
    if exposure_s is not None:
        ifd[0x829A] = IFDRational(1, round(1 / exposure_s))  # ExposureTime
    if bias_ev is not None:
        ifd[0x9204] = IFDRational(round(bias_ev * 3), 3)  # ExposureBiasValue
    out = io.BytesIO()
    rgb = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    rgb.save(out, "JPEG", quality=95, exif=exif.tobytes())
    return out.getvalue()


def _master(harness: Harness, manifest: SceneManifest) -> np.ndarray:
    data = harness.store.get(manifest.equirect.key)
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def test_sidecar_brackets_are_fused_and_recorded(
    harness: Harness, source: np.ndarray, tmp_path: Path
) -> None:
    brackets = render_brackets(source)
    folder = write_folder(
        tmp_path / "gym",
        {n: jpeg(b) for n, b in zip(NAMES, brackets, strict=True)},
        {"scene": "gym", "brackets": 3},
    )  # no exposure EXIF: the sidecar alone says so
    capture_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    manifest = harness.published(capture_id)[1]
    assert manifest.kind == "equirect" and manifest.brackets is not None
    record = manifest.brackets
    assert record.recognised_by == "sidecar" and record.count == 3
    assert record.files == list(NAMES) and record.reference == NAMES[1]
    assert record.exposure_ev is None
    assert record.shifts_px == [(-dx, -dy) for dx, dy in SHIFTS]
    assert min(record.agreement) > 0.9 and not manifest.warnings
    # The published master is the fusion: closer to the scene than any bracket alone.
    master = _master(harness, manifest)
    size = (master.shape[1], master.shape[0])
    truth = cv2.resize(source, size, interpolation=cv2.INTER_AREA)
    mask = np.zeros(master.shape[:2], bool)
    mask[8:-8] = True
    alone = [
        tone_matched_psnr(
            cv2.resize(shift_image(b, -dx, -dy, wrap=True), size, interpolation=cv2.INTER_AREA),
            truth,
            mask,
        )
        for b, (dx, dy) in zip(brackets, SHIFTS, strict=True)
    ]
    assert tone_matched_psnr(master, truth, mask) > max(alone) + 0.5, alone
    history = [e.stage for e in harness.app.ledger.history(capture_id)]
    assert "validate" in history and "stitch" not in history


def test_brackets_are_recognised_from_their_exif_exposures(
    harness: Harness, source: np.ndarray, tmp_path: Path
) -> None:
    # A camera's AEB order: normal, dark, bright. No sidecar.
    order = (1, 0, 2)
    brackets = render_brackets(source)
    files = {
        NAMES[i]: jpeg(brackets[k], exposure_s=TIMES[k], bias_ev=EVS[k])
        for i, k in enumerate(order)
    }
    folder = tmp_path / "hall"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    capture_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    manifest = harness.published(capture_id)[1]
    record = manifest.brackets
    assert record is not None and record.recognised_by == "exif", record
    assert record.exposure_ev == [0.0, -2.0, 2.06]  # log2(250 / 60) = 2.06
    assert record.reference == NAMES[0]  # the middle exposure, whatever the file order
    assert record.shifts_px == [(-SHIFTS[k][0], -SHIFTS[k][1]) for k in order]


def test_dual_fisheye_brackets_are_fused_before_the_remap(
    settings: Settings, tmp_path: Path
) -> None:
    # This real frame's seam and horizon warn (as the frame alone does): publish regardless.
    harness = Harness(settings.model_copy(update={"review": "never"}))
    frame = cv2.imread(str(DATA / "stitching" / "thetaS_raw_jacoblange.jpg"), cv2.IMREAD_COLOR)
    brackets = render_brackets(frame, wrap=False)
    files = {
        n: jpeg(b, bias_ev=ev, model="RICOH THETA S")
        for n, b, ev in zip(NAMES, brackets, EVS, strict=True)
    }
    folder = write_folder(tmp_path / "office", files, {"scene": "office"})
    capture_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    manifest = harness.published(capture_id)[1]
    assert manifest.kind == "dual_fisheye" and manifest.stitch is not None
    assert manifest.stitch["frames_used"] == list(NAMES)
    assert "theta" in str(manifest.stitch.get("profile", "")).lower(), manifest.stitch
    record = manifest.brackets
    assert record is not None and record.recognised_by == "exif"
    assert record.shifts_px == [(-dx, -dy) for dx, dy in SHIFTS]
    master = _master(harness, manifest)
    assert master.shape[1] == 2 * master.shape[0]
    assert (master.max(axis=2) > 0).mean() > 0.95  # a whole sphere, not one bracket's lens


def test_images_of_different_sizes_are_not_brackets(
    harness: Harness, source: np.ndarray, tmp_path: Path
) -> None:
    brackets = render_brackets(source)
    brackets[2] = cv2.resize(brackets[2], (1600, 800), interpolation=cv2.INTER_AREA)
    files = {n: jpeg(b, exposure_s=t) for n, b, t in zip(NAMES, brackets, TIMES, strict=True)}
    folder = write_folder(tmp_path / "odd", files, {"scene": "odd"})
    capture_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    capture = harness.app.ledger.get(capture_id)
    # Left to the multi-shot stitcher, which refuses frames of different sizes.
    assert capture.state == State.FAILED, capture
    assert "same size" in (capture.reason or "") and "bracket" not in (capture.reason or "")
    # Said to be brackets, they fail with the sidecar's own reason.
    folder = write_folder(tmp_path / "odd2", files, {"scene": "odd2", "brackets": 3})
    capture_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    capture = harness.app.ledger.get(capture_id)
    assert capture.state == State.FAILED, capture
    assert "sidecar says brackets" in (capture.reason or ""), capture.reason
    assert f"{NAMES[2]} 1600x800" in (capture.reason or "")


def test_a_retried_job_keeps_the_brackets_record(tmp_path: Path) -> None:
    # A job that failed after the fusion resumes from the source checkpoint, which must
    # carry the record to scene.json.
    record = Brackets(
        count=3, files=list(NAMES), exposure_ev=[-2.0, 0.0, 2.06], reference=NAMES[1],
        shifts_px=[(-3, 2), (0, 0), (4, -1)], agreement=[0.99, 1.0, 0.98],
        recognised_by="exif",
    )  # fmt: skip
    image = np.random.default_rng(5).integers(0, 256, (64, 128, 3), dtype=np.uint8)
    store = LocalStore(tmp_path / "store")
    keys = SceneKeys("north-campus", "gym", "0123456789abcdef")
    checkpoint.save(store, keys, Source(equirect=image, kind="equirect", brackets=record), None)
    loaded = checkpoint.load(store, keys)
    assert loaded is not None and loaded[0].brackets == record
    assert np.array_equal(loaded[0].equirect, image)


def test_a_rotation_in_auto_exposure_is_not_taken_for_brackets(
    harness: Harness, tmp_path: Path
) -> None:
    # Three real shots of a tripod rotation, 30° apart, whose EXIF says the camera's auto
    # exposure changed between them: same size, different exposures, different views.
    names = ("img01.jpg", "img07.jpg", "img13.jpg")
    frames = [cv2.imread(str(DATA / "stitching" / "lunchroom12" / n)) for n in names]
    files = {n: jpeg(f, exposure_s=t) for n, f, t in zip(names, frames, TIMES, strict=True)}
    folder = write_folder(tmp_path / "lunch", files, {"scene": "lunch"})
    capture_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    notes = [e.detail or "" for e in harness.app.ledger.history(capture_id)]
    assert any("views do not match" in n and "not HDR brackets" in n for n in notes), notes
    capture = harness.app.ledger.get(capture_id)
    # Left to the multi-shot stitcher (which cannot place all of three frames 30° apart).
    assert capture.state == State.FAILED, capture
    assert "bracket" not in (capture.reason or ""), capture.reason


def test_declared_brackets_that_do_not_line_up_carry_a_warning(
    settings: Settings, source: np.ndarray, tmp_path: Path
) -> None:
    harness = Harness(settings.model_copy(update={"review": "never"}))
    brackets = render_brackets(source)
    # The camera turned by 45° before the last exposure: far beyond what can be lined up.
    brackets[2] = np.roll(brackets[2], source.shape[1] // 8, axis=1)
    files = {n: jpeg(b) for n, b in zip(NAMES, brackets, strict=True)}
    folder = write_folder(tmp_path / "turned", files, {"scene": "turned", "brackets": 3})
    capture_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    manifest = harness.published(capture_id)[1]
    assert manifest.brackets is not None and manifest.brackets.agreement[2] < 0.8
    assert any("do not line up well" in w and "ghosts" in w for w in manifest.warnings)
