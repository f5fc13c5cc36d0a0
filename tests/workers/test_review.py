"""The review step: a doubtful scene is rendered but not live until a person decides.

The pipeline runs for real (intake, Redis ledger, local store); the checks a test needs are
put in by :mod:`tests.workers.review_support` where the real measurements would not warn
on the sample panorama.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import SecretStr

from config.settings import Settings
from ingest.sidecar import BlurRegion
from tests.stitching.harness import render_unknown_dual_fisheye
from tests.support.pipeline import Harness, file_candidate, folder_candidate, write_folder
from tests.workers.review_support import api_client, level_unless_fixed, warn, with_checks
from workers.access.shares import Shares
from workers.contract.keys import SceneKeys, current_key, review_key
from workers.contract.scene import Check, SceneManifest
from workers.ops import review as actions
from workers.ops.actions import retry_capture
from workers.pipeline.review import decide, load_hold
from workers.sites.registry import load_site, update_site
from workers.sites.tour_index import read_entry
from workers.state.ledger import Overrides, State
from workers.store import gc

TOKEN = "review-token-0123456789-0123456789-01"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OK = Check(name="coverage", value=1.0, limit=0.999, verdict="ok", message="the whole sphere")
FAIL = Check(name="privacy", value=3, verdict="fail", message="the face search covered 3 views")


def must_review() -> Check:
    """A check that holds whatever the policy (a lens that could not be fitted)."""
    return Check(name="lens", value="unfitted", verdict="review", message="the lens did not fit")


@pytest.fixture
def harness(settings: Settings) -> Harness:
    return Harness(settings.model_copy(update={"serve_token": SecretStr(TOKEN)}))


def _held(harness: Harness, tmp_path: Path, jpeg: bytes, name: str = "hall") -> str:
    path = tmp_path / f"{name}.jpg"
    path.write_bytes(jpeg)
    capture_id = harness.ingest(file_candidate(path))
    harness.drain()
    capture = harness.app.ledger.get(capture_id)
    assert capture.state == State.REVIEW, capture.reason
    return capture_id


def _keys(harness: Harness, capture_id: str) -> SceneKeys:
    capture = harness.app.ledger.get(capture_id)
    assert capture.version is not None
    return SceneKeys(capture.site, capture.scene, capture.version)


def _decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


@pytest.mark.parametrize(
    ("policy", "checks", "approved", "decision"),
    [
        ("on_warning", [OK], False, "publish"),
        ("on_warning", [OK, warn()], False, "hold"),
        ("on_warning", [OK, warn()], True, "publish"),
        ("never", [warn()], False, "publish"),
        ("always", [OK], False, "hold"),
        ("always", [OK], True, "publish"),
        ("never", [OK, FAIL], False, "fail"),
        ("never", [OK, must_review()], False, "hold"),  # an unfitted lens: whatever the policy
        ("never", [OK, must_review()], True, "publish"),
        ("on_warning", [warn(), FAIL], True, "fail"),  # an approval never publishes a failure
    ],
)
def test_the_policy_decides_publish_hold_or_fail(
    policy: str, checks: list[Check], approved: bool, decision: str
) -> None:
    verdict = decide(checks, policy, approved=approved)  # type: ignore[arg-type]
    assert verdict.decision == decision
    if decision == "hold" and policy == "on_warning":
        assert verdict.reason == "level: the horizon is rolled 12 deg"
    if decision == "fail":
        assert "privacy: the face search covered 3 views" in verdict.reason


def test_a_site_policy_overrides_the_service_policy(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    with_checks(harness, lambda job: [warn()] if job.capture.scene.startswith("warned") else [OK])
    site = harness.settings.default_site
    update_site(harness.store, site, lambda s: s.model_copy(update={"review": "always"}))
    clean = _held(harness, tmp_path, small_pano_jpeg, "clean")
    assert "every scene of this site is reviewed" in (harness.app.ledger.get(clean).reason or "")

    update_site(harness.store, site, lambda s: s.model_copy(update={"review": "never"}))
    other = cv2.flip(_decode(small_pano_jpeg), 1)
    (tmp_path / "warned.jpg").write_bytes(cv2.imencode(".jpg", other)[1].tobytes())
    warned = harness.ingest(file_candidate(tmp_path / "warned.jpg"))
    harness.drain()
    assert harness.app.ledger.get(warned).state == State.PUBLISHED

    update_site(harness.store, site, lambda s: s.model_copy(update={"review": None}))
    assert harness.settings.review == "on_warning"
    third = cv2.flip(other, 0)
    (tmp_path / "warned-again.jpg").write_bytes(cv2.imencode(".jpg", third)[1].tobytes())
    again = harness.ingest(file_candidate(tmp_path / "warned-again.jpg"))
    harness.drain()
    assert harness.app.ledger.get(again).state == State.REVIEW  # the service's on_warning


def test_a_held_version_is_stored_but_no_viewer_or_share_reaches_it(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    sent = with_checks(harness, [OK, warn()])
    capture_id = _held(harness, tmp_path, small_pano_jpeg)
    capture = harness.app.ledger.get(capture_id)
    keys = _keys(harness, capture_id)
    assert capture.reason == "level: the horizon is rolled 12 deg"
    manifest = SceneManifest.model_validate_json(harness.store.get(keys.manifest))
    assert manifest.version == keys.version and harness.store.exists(f"{keys.tiles}/1/f/0/0.jpg")
    assert not harness.store.exists(current_key(keys.site, keys.scene))
    assert read_entry(harness.store, keys.site, keys.scene) is None
    assert [e for e, _ in sent] == ["scene.review"]
    assert sent[0][1]["reason"] == capture.reason and sent[0][1]["version"] == keys.version
    hold = load_hold(harness.store, keys)
    assert hold is not None and [c.name for c in hold.checks if c.verdict != "ok"] == ["level"]
    assert len(hold.checks) > 2, "the checks stage's own checks are kept beside the given ones"

    client = api_client(harness)
    tile = f"{keys.tiles}/1/f/0/0.jpg"
    for key in (tile, keys.manifest, keys.thumb, keys.equirect):
        assert client.get(f"/objects/{key}", headers=AUTH).status_code == 404, key
    assert client.get(f"/objects/{current_key(keys.site, keys.scene)}",
                      headers=AUTH).status_code == 404  # fmt: skip
    shares: Shares = client.app.state.access.shares  # type: ignore[attr-defined]
    _, share = shares.create(keys.site, expires_in=timedelta(days=1), label="County 911")
    for key in (tile, keys.manifest):
        assert client.get(f"/s/{share}/objects/{key}").status_code == 404, key

    # The review API shows it to an operator, and only to one.
    listing = client.get("/api/review", headers=AUTH).json()["items"]
    assert [i["capture"] for i in listing] == [capture_id]
    assert [c["name"] for c in listing[0]["checks"] if c["verdict"] == "warn"] == ["level"]
    got = client.get(f"/api/review/{capture_id}/tiles/1/f/0/0.jpg", headers=AUTH)
    assert got.status_code == 200 and got.content == harness.store.get(tile)
    assert got.headers["cache-control"] == "private, no-store"
    assert client.get(f"/api/review/{capture_id}/thumb.jpg", headers=AUTH).status_code == 200
    assert client.get("/api/review").status_code == 401
    assert client.get(f"/api/review/{capture_id}/equirect.jpg").status_code == 401
    wrong_face = client.get(f"/api/review/{capture_id}/tiles/1/x/0/0.jpg", headers=AUTH)
    assert wrong_face.status_code == 404


def test_approving_makes_the_held_version_live_and_records_who(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    sent = with_checks(harness, [warn()])
    capture_id = _held(harness, tmp_path, small_pano_jpeg)
    keys = _keys(harness, capture_id)
    client = api_client(harness)
    tile = f"/objects/{keys.tiles}/1/f/0/0.jpg"
    assert client.get(tile, headers=AUTH).status_code == 404

    before = datetime.now(UTC)
    done = actions.approve(harness.app, harness.store, capture_id[:10], by="alice",
                           note="the roll is the camera's mount")  # fmt: skip
    assert done.state == State.PUBLISHED and done.version == keys.version
    pointer, manifest = harness.live(keys.site, keys.scene)
    assert pointer.version == keys.version and manifest.capture_id == capture_id
    entry = read_entry(harness.store, keys.site, keys.scene)
    assert entry is not None and entry.version == keys.version
    assert not harness.store.exists(review_key(keys.site, keys.scene, keys.version))
    assert client.get(tile, headers=AUTH).status_code == 200  # served at once
    event = harness.app.ledger.history(capture_id)[-1]
    assert event.state == State.PUBLISHED and event.by == "alice" and event.at >= before
    assert "the roll is the camera's mount" in (event.detail or "")
    assert done.approvals[0].by == "alice" and done.approvals[0].version == keys.version
    assert [e for e, _ in sent] == ["scene.review", "scene.published"]
    with pytest.raises(actions.ReviewError, match="is published, not in review"):
        actions.approve(harness.app, harness.store, capture_id, by="bob")

    # A redelivered job of the approved capture publishes the same version, not a new hold.
    assert harness.app.ledger.transition(capture_id, State.QUEUED) is not None
    harness.queued.append(capture_id)
    harness.drain()
    assert harness.app.ledger.get(capture_id).state == State.PUBLISHED
    assert not harness.store.exists(review_key(keys.site, keys.scene, keys.version))


def test_rejecting_fails_the_capture_and_gc_may_then_take_the_version(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    sent = with_checks(harness, [warn()])
    capture_id = _held(harness, tmp_path, small_pano_jpeg)
    keys = _keys(harness, capture_id)
    later = datetime.now(UTC).timestamp() + 10 * 86400
    assert gc.collect(harness.store, grace_seconds=60, now=later) == [], "held: kept"

    with pytest.raises(actions.ReviewError, match="needs a reason"):
        actions.reject(harness.app, harness.store, capture_id, by="bob", reason=" ")
    done = actions.reject(harness.app, harness.store, capture_id, by="bob", reason="blurry")
    assert done.state == State.FAILED and done.reason == "rejected by bob: blurry"
    assert harness.app.ledger.history(capture_id)[-1].by == "bob"
    assert [e for e, _ in sent] == ["scene.review", "capture.failed"]
    assert not harness.store.exists(current_key(keys.site, keys.scene))
    with pytest.raises(actions.ReviewError):
        actions.approve(harness.app, harness.store, capture_id, by="alice")
    gone = gc.collect(harness.store, grace_seconds=60, now=later)
    assert [(g.version, g.kind) for g in gone] == [(keys.version, "version"),
                                                   (keys.version, "checkpoint")]  # fmt: skip


def test_a_fix_renders_again_from_the_original_and_the_policy_decides_again(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    with_checks(harness, level_unless_fixed)
    capture_id = _held(harness, tmp_path, small_pano_jpeg)
    held = _keys(harness, capture_id)
    with pytest.raises(actions.ReviewError, match="needs a pitch, roll"):
        actions.fix(harness.app, harness.store, capture_id, by="carol", overrides=Overrides())

    moved = actions.fix(harness.app, harness.store, capture_id, by="carol",
                        overrides=Overrides(roll_deg=3.0, heading_deg=90.0))  # fmt: skip
    assert moved.state == State.QUEUED and harness.queued == [capture_id]
    assert not harness.store.exists(review_key(held.site, held.scene, held.version))
    event = harness.app.ledger.history(capture_id)[-1]
    assert event.by == "carol" and "roll_deg=3.0" in (event.detail or "")
    harness.drain()
    keys, manifest = harness.published(capture_id)  # the level check passes now
    assert keys.version != held.version
    assert manifest.levelling.source == "manual" and manifest.levelling.roll_deg == 3.0
    assert manifest.heading.source == "manual" and manifest.heading.heading_deg == 90.0
    assert [s.sha256 for s in manifest.sources] == [f.sha256 for f in moved.files]
    old = _decode(harness.store.get(held.equirect))
    new = _decode(harness.store.get(keys.equirect))
    assert old.shape == new.shape and np.abs(old.astype(int) - new).mean() > 5, "re-rendered"

    # Under "always" the fixed version waits again, a new version with the fix in it.
    update_site(harness.store, keys.site, lambda s: s.model_copy(update={"review": "always"}))
    actions.fix(harness.app, harness.store, capture_id, by="carol",
                overrides=Overrides(pitch_deg=-2.0))  # fmt: skip
    harness.drain()
    again = harness.app.ledger.get(capture_id)
    assert again.state == State.REVIEW and again.version not in (held.version, keys.version)
    assert again.overrides == Overrides(pitch_deg=-2.0, roll_deg=3.0, heading_deg=90.0)
    assert harness.live(keys.site, keys.scene)[0].version == keys.version  # still the fixed one


def test_a_fix_blurs_the_regions_a_person_marked(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    harness = Harness(settings.model_copy(update={"blur": "required"}))
    with_checks(harness, [warn()])
    capture_id = _held(harness, tmp_path, small_pano_jpeg)
    held = _keys(harness, capture_id)
    region = BlurRegion(yaw_deg=20.0, pitch_deg=0.0, width_deg=30.0, height_deg=20.0)
    actions.fix(harness.app, harness.store, capture_id, by="dan", blur=[region])
    harness.drain()
    assert harness.app.ledger.get(capture_id).state == State.REVIEW  # the warning stays
    capture = harness.app.ledger.get(capture_id)
    assert capture.blur_regions == [region]
    keys = _keys(harness, capture_id)
    manifest = SceneManifest.model_validate_json(harness.store.get(keys.manifest))
    assert manifest.privacy.manual_regions == 1
    before = _decode(harness.store.get(held.equirect))
    after = _decode(harness.store.get(keys.equirect))
    h, w = after.shape[:2]
    # yaw 20 +- 15 deg, pitch +- 10 deg, well inside the region
    box = (slice(int(h * (0.5 - 6 / 180)), int(h * (0.5 + 6 / 180))),
           slice(int(w * (0.5 + 8 / 360)), int(w * (0.5 + 32 / 360))))  # fmt: skip
    edges = [float(np.abs(cv2.Laplacian(cv2.cvtColor(i[box], cv2.COLOR_BGR2GRAY),
                                        cv2.CV_32F)).mean()) for i in (before, after)]  # fmt: skip
    assert edges[1] < 0.3 * edges[0], edges


def test_a_failed_check_is_never_published_whatever_the_policy(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    sent = with_checks(harness, [warn(), FAIL])
    update_site(harness.store, harness.settings.default_site,
                lambda s: s.model_copy(update={"review": "never"}))  # fmt: skip
    (tmp_path / "gym.jpg").write_bytes(small_pano_jpeg)
    capture_id = harness.ingest(file_candidate(tmp_path / "gym.jpg"))
    harness.drain()
    capture = harness.app.ledger.get(capture_id)
    assert capture.state == State.FAILED
    assert capture.reason == "not published: privacy: the face search covered 3 views"
    assert list(harness.store.list("scenes/")) == [], "nothing rendered, not even held"
    assert [e for e, _ in sent] == ["capture.failed"]
    with pytest.raises(actions.ReviewError):
        actions.approve(harness.app, harness.store, capture_id, by="alice")


def test_retry_with_a_corrected_sidecar_keeps_it_in_the_same_capture(
    harness: Harness, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    broken = b'{"scene": "library", "captured_at": "yesterday"'
    folder = write_folder(tmp_path / "library", {"pano.jpg": small_pano_jpeg}, broken)
    capture_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    before = harness.app.ledger.get(capture_id)
    assert before.state == State.QUARANTINED
    old = next(f for f in before.files if f.name == "capture.json")
    harness.app.enqueue = harness.queued.append  # type: ignore[method-assign]

    with pytest.raises(Exception, match="capture.json"):
        retry_capture(harness.app, capture_id, sidecar=b'{"scene": 3', by="erin")
    assert harness.app.ledger.get(capture_id).state == State.QUARANTINED

    fixed = json.dumps({"scene": "library", "room": "L101"}).encode()
    moved = retry_capture(harness.app, capture_id, sidecar=fixed, by="erin")
    assert moved is not None and moved.id == capture_id
    harness.drain()
    keys, manifest = harness.published(capture_id)
    after = harness.app.ledger.get(capture_id)
    new = next(f for f in after.files if f.name == "capture.json")
    assert new.sha256 != old.sha256 and harness.store.get(new.key) == fixed
    assert harness.store.get(old.key) == broken, "the broken one stays archived"
    assert keys.scene == "library" and manifest.metadata["room"] == "L101"
    retried = next(e for e in harness.app.ledger.history(capture_id) if e.by == "erin")
    assert retried.state == State.QUEUED and old.key in (retried.detail or "")
    assert new.key in (retried.detail or "")
    assert len(harness.app.ledger.in_state(State.QUARANTINED)) == 0


def test_an_approved_lens_is_remembered_for_the_camera(
    harness: Harness, tmp_path: Path, pano: np.ndarray
) -> None:
    # A raw dual-fisheye frame without EXIF, from a camera panodock has no profile for (the
    # sample panorama through a 196 deg lens pair, the camera level as the sidecar says):
    # the lens is fitted from the frame and held. A person names the generic model instead
    # (fix --lens), and approves: the site remembers that profile for its default camera.
    # (A fitted lens approved as it is: tests/workers/test_lens_memory.py.)
    frame = render_unknown_dual_fisheye(
        pano, 1920, np.random.default_rng(7), fov_deg=(196.0, 196.0),
        projections=("equidistant",), centre_off=0.0, max_rotation_deg=0.0,
        rim_brightness=(1.0, 1.0), max_ev=0.0,
    ).frame  # fmt: skip
    pose = {"orientation": {"pitch_deg": 0.0, "roll_deg": 0.0}}
    raw = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    folder = write_folder(tmp_path / "r0010042", {"R0010042.JPG": raw}, pose)
    first = harness.ingest(folder_candidate(folder))
    harness.drain()
    held = harness.app.ledger.get(first)
    assert held.state == State.REVIEW and (held.reason or "").startswith("lens: no lens profile")
    harness.app.enqueue = harness.queued.append  # type: ignore[method-assign]
    actions.fix(harness.app, harness.store, first, by="alice", overrides=Overrides(lens="generic"))
    harness.drain()
    held = harness.app.ledger.get(first)
    assert held.state == State.REVIEW, held.reason
    hold = load_hold(harness.store, _keys(harness, first))
    assert hold is not None
    assert [c.name for c in hold.checks if c.verdict != "ok"] == ["lens"], hold.checks
    actions.approve(harness.app, harness.store, first, by="alice")
    site = load_site(harness.store, harness.settings.default_site)
    assert site is not None and len(site.cameras) == 1
    camera = site.cameras[0]
    assert (camera.make, camera.model, camera.profile, camera.approved_by) == (
        None, None, "generic", "alice")  # fmt: skip
    assert any("lens generic remembered" in (e.detail or "")
               for e in harness.app.ledger.history(first))  # fmt: skip

    # The next frame of that camera goes straight through, its lens check naming who approved.
    second = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    folder = write_folder(tmp_path / "r0010043", {"R0010043.JPG": second}, pose)
    next_id = harness.ingest(folder_candidate(folder))
    harness.drain()
    _, manifest = harness.published(next_id)
    lens = next(c for c in manifest.checks if c.name == "lens")
    assert lens.verdict == "ok" and "approved for the site default camera by alice" in lens.message
