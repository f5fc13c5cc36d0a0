"""Multi-shot sets: ground truth, the real lunchroom rotation, and bad sets."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from config.errors import CaptureError
from stitching.frames import Frame
from stitching.multishot import stitch_frames
from stitching.multishot.matching import neighbour_mask
from tests.stitching.harness import footprint, render_views, score

DATA = Path(__file__).parent.parent / "data" / "stitching"
SIZE = (640, 480)
HFOV = 75.0


@pytest.fixture(scope="module")
def one_row(pano: np.ndarray) -> tuple[list[Frame], list[tuple[float, float]]]:
    return render_views(
        pano, rows=[(0.0, 8)], hfov_deg=HFOV, size=SIZE, rng=np.random.default_rng(7)
    )


@pytest.fixture(scope="module")
def one_row_result(one_row):  # type: ignore[no-untyped-def]
    return stitch_frames(one_row[0], yaw_step_deg=45.0)


def test_one_row_uses_every_frame_and_covers_its_footprint(one_row, one_row_result, pano) -> None:  # type: ignore[no-untyped-def]
    frames, poses = one_row
    assert one_row_result.frames_used == [f.name for f in frames]
    assert one_row_result.frames_unplaced == []
    s = score(one_row_result.equirect, pano, width=1024, within=footprint(poses, HFOV, SIZE, 1024))
    assert s.coverage == pytest.approx(1.0, abs=1e-3)
    # The target; measured 33.7 dB here (tests/bench/stitching.py: full size).
    assert s.psnr_db >= 32.8, s


def test_one_row_poses_follow_the_head(one_row_result) -> None:  # type: ignore[no-untyped-def]
    yaws = [p[0] for p in one_row_result.details["poses_yaw_pitch_deg"]]
    expected = [0, 45, 90, 135, 180, -135, -90, -45]
    for got, want in zip(yaws, expected, strict=True):
        assert abs((got - want + 180) % 360 - 180) < 1.5


@pytest.fixture(scope="module")
def three_rows(pano: np.ndarray) -> tuple[list[Frame], list[tuple[float, float]]]:
    """8 views at the horizon, 6 at +45 deg (featureless sky) and 6 at -45 deg."""
    return render_views(
        pano,
        rows=[(0.0, 8), (45.0, 6), (-45.0, 6)],
        hfov_deg=HFOV,
        size=SIZE,
        rng=np.random.default_rng(3),
    )


def test_three_rows_with_the_heads_poses_cover_the_sphere(three_rows, pano) -> None:  # type: ignore[no-untyped-def]
    frames, poses = three_rows
    result = stitch_frames(frames, poses=poses)
    sky = [f.name for f in frames if f.name.startswith("r+45")]
    assert result.frames_used == [f.name for f in frames]
    assert result.frames_unplaced == [] and result.details["incomplete"] is False
    assert result.details["placed_from_rig"] == sky
    assert any("rig's pose only" in w and sky[0] in w for w in result.warnings)
    s = score(result.equirect, pano, width=1024, within=footprint(poses, HFOV, SIZE, 1024))
    assert s.coverage >= 0.98, s
    assert s.psnr_db >= 34.0, s  # measured 36.8 dB


def test_three_rows_without_poses_name_the_sky_frames(three_rows) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CaptureError, match=r"6 of 20 frames could not be placed: r\+45_y\+000"):
        stitch_frames(three_rows[0])


def test_poses_must_be_one_per_position(one_row) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CaptureError, match="gives 2 poses for 3 positions"):
        stitch_frames(one_row[0][:3], poses=[(0.0, 0.0), (45.0, 0.0)])


def test_lunchroom_rotation_closes_with_all_twelve_frames() -> None:
    files = sorted(DATA.glob("lunchroom12/img*.jpg"))
    frames = [Frame(name=f.name, image=cv2.imread(str(f))) for f in files]
    result = stitch_frames(frames, yaw_step_deg=30.0)
    assert len(frames) == 12 and result.frames_used == [f.name for f in frames]
    yaws = sorted(p[0] for p in result.details["poses_yaw_pitch_deg"])  # type: ignore[union-attr]
    gaps = np.diff(yaws + [yaws[0] + 360.0])
    assert gaps.max() < 50.0  # a closed ring: no missing sector
    h, w = result.equirect.shape[:2]
    band = result.equirect[h // 2 - 20 : h // 2 + 20]
    assert (band.max(axis=2) > 0).all()  # the horizon is covered all the way round


def test_a_frame_of_another_size_is_named(one_row) -> None:  # type: ignore[no-untyped-def]
    frames = list(one_row[0][:3])
    frames[2] = Frame(name="odd.jpg", image=cv2.resize(frames[2].image, (320, 240)))
    with pytest.raises(CaptureError, match="odd.jpg is 320x240"):
        stitch_frames(frames)


def test_a_set_of_one_frame_fails(one_row) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CaptureError, match="at least two positions.*r\\+0_y\\+000"):
        stitch_frames(one_row[0][:1])


def test_frames_with_no_overlap_fail(one_row) -> None:  # type: ignore[no-untyped-def]
    opposite = [one_row[0][0], one_row[0][4]]  # 180 deg apart
    with pytest.raises(CaptureError, match="overlap"):
        stitch_frames(opposite)


def test_an_unplaceable_frame_fails_or_is_listed(one_row) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    noise = Frame(name="lens-cap.jpg", image=rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
    frames = list(one_row[0][:3]) + [noise]
    with pytest.raises(CaptureError, match="lens-cap.jpg"):
        stitch_frames(frames)
    result = stitch_frames(frames, allow_incomplete=True)
    assert result.frames_unplaced == ["lens-cap.jpg"]
    assert result.details["incomplete"] is True
    assert "lens-cap.jpg" not in result.frames_used


def test_brackets_are_fused_first(one_row) -> None:  # type: ignore[no-untyped-def]
    frames = []
    for f in one_row[0][:3]:
        dark = cv2.convertScaleAbs(f.image, alpha=0.5)
        frames += [Frame(f.name + ":-1", dark, -1.0), Frame(f.name + ":0", f.image, 0.0)]
    result = stitch_frames(frames, brackets=2)
    assert len(result.frames_used) == 6 and result.frames_unplaced == []
    with pytest.raises(CaptureError, match="6 frames do not split into brackets of 4"):
        stitch_frames(frames, brackets=4)


def test_a_programme_the_matched_frames_do_not_follow_places_nothing(three_rows) -> None:  # type: ignore[no-untyped-def]
    frames, poses = three_rows
    # The head turned the other way round from what the sidecar says.
    wrong = [(-yaw, pitch) for yaw, pitch in poses]
    with pytest.raises(
        CaptureError, match=r"6 of 20 frames could not be placed.*deg off the head's programme"
    ):
        stitch_frames(frames, poses=wrong)


def test_a_known_programme_matches_only_positions_that_can_overlap() -> None:
    ring = neighbour_mask([(30.0 * k, 0.0) for k in range(12)])
    assert (ring == ring.T).all() and not ring.diagonal().any()
    # Two positions either side, across the wrap too: 24 pairs instead of 66.
    assert [int(j) for j in np.flatnonzero(ring[0])] == [1, 2, 10, 11]
