"""End to end: a raw dual-fisheye frame without EXIF, camera held on its side.

It must end in review (not published) with the checks naming why; a person names its lens
profile (``review fix --lens``): rendered again, levelled from the image (the camera was on
its side and nothing said so), and published with every face the search can find blurred.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from config.settings import Settings
from stitching.privacy import blur_faces
from tests.support.pipeline import Harness, file_candidate
from workers.contract.keys import current_key
from workers.ops import review as actions
from workers.pipeline.review import load_faces, load_hold
from workers.state.ledger import Overrides, State

GEAR360 = Path(__file__).parents[1] / "data" / "stitching" / "gear360_extract_cynricfu.jpg"


def rolled_90(frame: np.ndarray) -> np.ndarray:
    """The frame a dual-fisheye camera rolled 90 deg about its front axis would take.

    A roll turns each lens's picture about its own axis: the front lens's one way, the back
    lens's (which looks the other way) the other.
    """
    h, w = frame.shape[:2]
    left, right = frame[:, : w // 2], frame[:, w // 2 :]
    assert left.shape[0] == left.shape[1] == h, "two square halves, one circle each"
    return np.hstack([cv2.rotate(left, cv2.ROTATE_90_CLOCKWISE),
                      cv2.rotate(right, cv2.ROTATE_90_COUNTERCLOCKWISE)])  # fmt: skip


def test_a_rolled_frame_without_exif_is_held_then_approved_with_its_faces_blurred(
    settings: Settings, tmp_path: Path
) -> None:
    harness = Harness(settings.model_copy(update={"blur": "required"}))
    sent: list[str] = []
    harness.app.notify = lambda event, data: sent.append(event)  # type: ignore[method-assign]
    frame = cv2.imread(str(GEAR360))
    assert frame is not None and frame.shape == (1280, 2560, 3)
    path = tmp_path / "360_0042.jpg"
    path.write_bytes(cv2.imencode(".jpg", rolled_90(frame), [cv2.IMWRITE_JPEG_QUALITY, 92])[1])
    capture_id = harness.ingest(file_candidate(path))
    harness.drain()

    capture = harness.app.ledger.get(capture_id)
    assert capture.state == State.REVIEW, capture.reason
    assert not harness.store.exists(current_key(capture.site, capture.scene))
    keys = actions.keys_of(capture)
    hold = load_hold(harness.store, keys)
    assert hold is not None
    warned = {c.name for c in hold.checks if c.verdict == "warn"}
    assert "lens" in warned, hold.checks
    assert "lens: no lens profile for an unknown camera" in (capture.reason or "")
    privacy = next(c for c in hold.checks if c.name == "privacy")
    assert privacy.verdict == "ok", privacy
    faces = load_faces(harness.store, keys)
    assert faces is not None and len(faces.faces) >= 1, "the rolled search found the faces"
    assert "scene.review" in sent

    # A person names the camera's lens profile: rendered again with it, its lens check is ok,
    # and nothing else is in doubt (the roll is found in the image), so it goes live.
    harness.app.enqueue = harness.queued.append  # type: ignore[method-assign]
    actions.fix(harness.app, harness.store, capture_id, by="alice",
                overrides=Overrides(lens="samsung-gear-360-2016"))  # fmt: skip
    harness.drain()
    capture = harness.app.ledger.get(capture_id)
    assert capture.state == State.PUBLISHED, capture.reason
    _, manifest = harness.live(capture.site, capture.scene)
    lens = next(c for c in manifest.checks if c.name == "lens")
    assert lens.verdict == "ok" and "chosen by an operator" in lens.message
    assert manifest.levelling.source == "image", manifest.levelling
    # About 90 deg: the unrolled frame itself is some 10 deg off level (handheld).
    assert 75.0 < abs(manifest.levelling.roll_deg) < 105.0, manifest.levelling
    level = next(c for c in manifest.checks if c.name == "level")
    assert level.verdict == "ok", level
    assert manifest.privacy.blurred and manifest.privacy.complete
    assert sorted(manifest.privacy.rolls_deg) == [0, 90, 180, 270]
    detector = harness.app.pipeline.detector
    assert detector is not None
    master = cv2.imdecode(np.frombuffer(harness.store.get(manifest.equirect.key), np.uint8),
                          cv2.IMREAD_COLOR)  # fmt: skip
    again = blur_faces(master, detector)
    assert again.regions == [], f"faces visible in the published scene: {again.regions}"
