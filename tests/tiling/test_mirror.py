"""The compact maps of tiling.mirror and the faces they share, against maps built whole."""

import cv2
import numpy as np
import pytest

from stitching.sphere import FACES, face_maps, pose_rotation
from tiling.cube import PUBLISH_ORDER, CubeProjector
from tiling.luma import render_face
from tiling.mirror import face_coords, mirror_columns, plan_face


@pytest.fixture(scope="module")
def small(pano: np.ndarray) -> np.ndarray:
    return cv2.resize(pano, (1024, 512), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("rotation", [None, pose_rotation(12.0, -7.0, 30.0)])
def test_face_coords_are_the_sphere_maps(face, rotation):
    col, row = face_coords(face, 96, 1024, 512, rotation=rotation)
    ref_col, ref_row = face_maps(face, 96, 1024, 512, rotation=rotation)
    turn = np.abs(col - ref_col)
    assert np.minimum(turn, 1024 - turn).max() < 1e-3  # the same column, or across the seam
    assert np.abs(row - ref_row).max() < 1e-3
    left, _ = face_coords(face, 96, 1024, 512, rotation=rotation, columns=40)
    assert np.array_equal(left, col[:, :40])


@pytest.mark.parametrize("size", [7, 8])
def test_mirrored_maps_sample_where_whole_maps_do(size):
    rng = np.random.default_rng(size)
    col = rng.uniform(0, 50, (size, (size + 1) // 2)).astype(np.float32)
    row = rng.uniform(0, 50, col.shape).astype(np.float32)
    whole_col = np.concatenate([col, 60.0 - col[:, : size // 2][:, ::-1]], axis=1)
    whole_row = np.concatenate([row, row[:, : size // 2][:, ::-1]], axis=1)
    half = cv2.convertMaps(col, row, cv2.CV_16SC2)
    got = cv2.convertMaps(*mirror_columns(half, size, 60), cv2.CV_32FC1)
    assert np.abs(got[0] - whole_col).max() <= 1 / 32 + 1e-4
    assert np.abs(got[1] - whole_row).max() <= 1 / 32 + 1e-4


def test_plans_are_only_for_faces_centred_on_yaw_zero():
    with pytest.raises(ValueError, match="mirrored half"):
        plan_face("r", 16, 64, 32)


def test_shared_and_mirrored_faces_match_faces_built_whole(small):
    projector = CubeProjector()
    shared = dict(projector.publish_faces(small, 160))
    assert list(shared) == list(PUBLISH_ORDER)
    for face in FACES:
        whole = render_face(small, CubeProjector._whole_luma_maps(1024, 512, face, 160, None))
        # Mirrored fixed-point maps round like the whole ones but for rare ties.
        diff = np.abs(shared[face].astype(int) - whole)
        assert diff.max() <= 4 and (diff > 1).mean() < 1e-3, face
        assert np.array_equal(projector.publish_face(small, face, 160), shared[face])


def test_maps_too_big_to_keep_are_dropped_after_their_faces(small):
    kept, dropped = CubeProjector(), CubeProjector(keep_bytes=1024)
    first = dict(kept.publish_faces(small, 160))
    second = dict(dropped.publish_faces(small, 160))
    assert kept.nbytes > 0 and dropped.nbytes == 0
    assert all(np.array_equal(first[f], second[f]) for f in FACES)
