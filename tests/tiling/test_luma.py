"""Published faces against their JPEG ceiling, and the pieces of tiling.luma."""

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.settings import Settings
from stitching.sphere import FACES, face_maps, fixed_point_maps
from tests.tiling.reference import lanczos_face, psnr, score
from tiling.cube import CubeProjector
from tiling.encode import encode_jpeg
from tiling.luma import luma_maps, sphere_window, upsample2

QUALITY = Settings.model_fields["jpeg_quality"].default  # the scenes' JPEG quality
FACE = 320  # 4 x FACE / width = 1.25, as 4096 -> 1280 and 8192 -> 2560 px faces
TILE = 160


@pytest.fixture(scope="module")
def crop(pano: np.ndarray) -> np.ndarray:
    """A 1024x512 crop of the sample panorama at full resolution: trees, rock, a lake.

    Taken as a whole sphere of its own: the faces then sample real photo detail at the
    production scale, wrap and pole included, at a sixteenth of the cost.
    """
    return np.ascontiguousarray(pano[1100:1612, 0:1024])


@pytest.fixture(scope="module")
def references(crop: np.ndarray) -> dict[str, np.ndarray]:
    return {face: lanczos_face(crop, face, FACE) for face in FACES}


def published(face_img: np.ndarray) -> np.ndarray:
    """What a viewer decodes: the face as tiles, each JPEG at the scenes' quality."""
    out = np.empty_like(face_img)
    for top in range(0, FACE, TILE):
        for left in range(0, FACE, TILE):
            tile = face_img[top : top + TILE, left : left + TILE]
            data = np.frombuffer(encode_jpeg(tile, QUALITY), np.uint8)
            out[top : top + TILE, left : left + TILE] = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return out


@pytest.mark.parametrize("face", FACES)
def test_published_face_is_within_half_a_db_of_its_jpeg_ceiling(crop, references, face):
    face_img = CubeProjector().publish_face(crop, face, FACE)
    s = score(published(face_img), references[face], QUALITY, TILE)
    assert s.gap <= 0.5, f"face {face}: {s.psnr:.2f} dB against a {s.ceiling:.2f} dB ceiling"


@pytest.mark.parametrize(("interpolation", "worse_than"), [
    (cv2.INTER_LINEAR, 1.0), (cv2.INTER_CUBIC, 0.5),
])  # fmt: skip
def test_the_crop_is_hard_enough_to_tell_remaps_apart(crop, references, interpolation, worse_than):
    # The ceiling test means something only if a plain remap misses the ceiling here:
    # bilinear by 3-4 dB, bicubic by 0.5-0.9 dB (why the tiles use neither).
    face_img = CubeProjector().project_face(crop, "f", FACE, interpolation=interpolation)
    gap = score(published(face_img), references["f"], QUALITY, TILE).gap
    assert gap > worse_than


def test_rotation_is_folded_into_the_published_face(pano):
    small = cv2.resize(pano, (1024, 512), interpolation=cv2.INTER_AREA)
    quarter_turn = np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]], dtype=float)  # f looks at r
    projector = CubeProjector()
    turned = projector.publish_face(small, "f", 128, rotation=quarter_turn)
    right = projector.publish_face(small, "r", 128)
    assert np.abs(turned.astype(int) - right).max() <= 2


def test_tilted_face_over_a_pole_is_within_half_a_db_of_its_ceiling(crop):
    # Pitched 60 deg up, f contains the pole: the whole-width window, wrapped.
    c, s = np.cos(np.radians(60)), np.sin(np.radians(60))
    pitch_up = np.array([[1, 0, 0], [0, c, s], [0, -s, c]], dtype=float)
    face = CubeProjector().publish_face(crop, "f", FACE, rotation=pitch_up)
    reference = lanczos_face(crop, "f", FACE, rotation=pitch_up)
    assert score(published(face), reference, QUALITY, TILE).gap <= 0.5


def test_upsample2_keeps_samples_and_interpolates_half_way():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (24, 40), dtype=np.uint8)
    up = upsample2(img)
    assert up.shape == (48, 80)
    assert np.array_equal(up[0::2, 0::2], img)
    ramp = np.tile(np.arange(0, 200, 5, dtype=np.uint8), (24, 1))  # 40 columns, linear
    half = upsample2(ramp)[0::2, 1::2].astype(int)
    assert np.abs(half[:, 4:-5] - (ramp[:, 4:-5].astype(int) + 2.5)).max() <= 1
    rows_only = upsample2(img, scale_x=1)
    assert rows_only.shape == (48, 40) and np.array_equal(rows_only[0::2], img)


def test_sphere_window_wraps_columns_and_continues_over_the_poles():
    img = np.arange(6 * 8, dtype=np.int32).reshape(6, 8)
    win = sphere_window(img, (-2, 8), (-3, 5))
    assert win.shape == (10, 8)
    assert np.array_equal(win[2:8], img[:, np.arange(-3, 5) % 8])  # the seam wraps
    opposite = (np.arange(-3, 5) + 4) % 8
    assert np.array_equal(win[1], img[0, opposite])  # row -1 is row 0 across the pole
    assert np.array_equal(win[0], img[1, opposite])
    assert np.array_equal(win[8], img[5, opposite])  # row 6 is row 5 across the other


def test_published_faces_need_uint8_bgr_and_whole_width_windows_stay_int16():
    with pytest.raises(ValueError, match="uint8 BGR"):
        CubeProjector().publish_face(np.zeros((32, 64), np.uint8), "f", 16)
    # A 20000 px wide equirect: the u face's whole-width window is not doubled across,
    # so its maps stay within int16.
    col, row = face_maps("u", 16, 20000, 10000)
    c_col, c_row = face_maps("u", 8, 20000, 10000)
    maps = luma_maps(col, row, fixed_point_maps(c_col, c_row, 10000), width=20000, height=10000)
    assert maps.scale_x == 1 and maps.cols[1] - maps.cols[0] > 20000


def test_sphere_window_in_luma_is_the_luma_of_the_window(crop):
    window = sphere_window(crop, (-5, 40), (1000, 1100), gray=True)
    expected = cv2.cvtColor(sphere_window(crop, (-5, 40), (1000, 1100)), cv2.COLOR_BGR2GRAY)
    assert np.array_equal(window, expected)


@settings(max_examples=20, deadline=None)
@given(
    face=st.sampled_from(FACES),
    quaternion=st.tuples(*[st.floats(-1, 1) for _ in range(4)]).filter(
        lambda q: sum(v * v for v in q) > 0.1
    ),
)
def test_any_rotation_samples_closer_to_lanczos_than_bicubic(crop, face, quaternion):
    # Every window case (one piece, across the seam, around a pole) under any rotation.
    w, x, y, z = np.array(quaternion) / np.linalg.norm(quaternion)
    rotation = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip
    reference = lanczos_face(crop, face, FACE, rotation=rotation)
    projector = CubeProjector(maxsize=1)
    ours = psnr(projector.publish_face(crop, face, FACE, rotation=rotation), reference)
    bicubic = projector.project_face(
        crop, face, FACE, rotation=rotation, interpolation=cv2.INTER_CUBIC
    )
    assert ours > psnr(bicubic, reference) + 1.0


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_tiny_images_and_faces_render(size):
    src = np.random.default_rng(size).integers(0, 256, (4, 8, 3), dtype=np.uint8)
    for face in FACES:
        assert CubeProjector().publish_face(src, face, size).shape == (size, size, 3)
