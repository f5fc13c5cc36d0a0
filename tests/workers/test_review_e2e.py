"""End to end: a raw dual-fisheye frame without EXIF, camera held on its side.

It must end in review (not published) with the checks naming why; a person names its lens
profile (``review fix --lens``) and approves it: published with every face the search can
find blurred, and the site remembers that lens for the camera.
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
from workers.sites.registry import load_site
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

    # A person names the camera's lens profile: rendered again with it, its lens check is ok.
    harness.app.enqueue = harness.queued.append  # type: ignore[method-assign]
    actions.fix(harness.app, harness.store, capture_id, by="alice",
                overrides=Overrides(lens="samsung-gear-360-2016"))  # fmt: skip
    harness.drain()
    capture = harness.app.ledger.get(capture_id)
    assert capture.state == State.REVIEW, capture.reason
    refit = load_hold(harness.store, actions.keys_of(capture))
    assert refit is not None
    lens = next(c for c in refit.checks if c.name == "lens")
    assert lens.verdict == "ok" and "chosen by an operator" in lens.message
    done = actions.approve(harness.app, harness.store, capture_id, by="alice")
    assert done.state == State.PUBLISHED
    _, manifest = harness.live(capture.site, capture.scene)
    assert manifest.privacy.blurred and manifest.privacy.complete
    assert sorted(manifest.privacy.rolls_deg) == [0, 90, 180, 270]
    detector = harness.app.pipeline.detector
    assert detector is not None
    master = cv2.imdecode(np.frombuffer(harness.store.get(manifest.equirect.key), np.uint8),
                          cv2.IMREAD_COLOR)  # fmt: skip
    again = blur_faces(master, detector)
    assert again.regions == [], f"faces visible in the published scene: {again.regions}"
    registry = load_site(harness.store, capture.site)
    assert registry is not None
    assert [c.profile for c in registry.cameras] == ["samsung-gear-360-2016"]
