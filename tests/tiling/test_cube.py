"""Cube projection against an independent float64 reference, orientation and the cache."""

import math

import cv2
import numpy as np
import pytest

from stitching.sphere import FACES
from tests.stitching.test_sphere import TABLE, direction, equirect_xy
from tiling.cube import CubeProjector


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def bilinear(src: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear sample, wrapping horizontally and clamping at the poles, in float64."""
    height, width = src.shape[:2]
    v = np.clip(v, 0, height - 1)
    x0, y0 = np.floor(u).astype(int), np.floor(v).astype(int)
    fx, fy = (u - x0)[..., None], (v - y0)[..., None]
    y1 = np.minimum(y0 + 1, height - 1)
    xa, xb = x0 % width, (x0 + 1) % width
    s = src.astype(np.float64)
    top = s[y0, xa] * (1 - fx) + s[y0, xb] * fx
    bottom = s[y1, xa] * (1 - fx) + s[y1, xb] * fx
    return top * (1 - fy) + bottom * fy


def reference_face(src: np.ndarray, face: str, size: int) -> np.ndarray:
    t = 2 * (np.arange(size) + 0.5) / size - 1
    a, b = np.meshgrid(t, t)
    u, v = equirect_xy(*TABLE[face](a, b), src.shape[1], src.shape[0])
    return bilinear(src, u, v)


@pytest.mark.parametrize("size", [512, 640, 96])
@pytest.mark.parametrize("face", FACES)
def test_faces_of_real_pano_match_reference(pano, face, size):
    out = CubeProjector().project_face(pano, face, size)
    assert out.shape == (size, size, 3) and out.dtype == np.uint8
    assert psnr(out, reference_face(pano, face, size)) >= 45


def test_seam_and_poles_match_reference_on_noise():
    # Noise makes every tap matter: a seam that clamps instead of wrapping, or a pole that
    # wraps to the other pole, is off by ~100 grey levels, not ~4.
    rng = np.random.default_rng(7)
    src = rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)
    projector = CubeProjector()
    for face in FACES:
        err = np.abs(projector.project_face(src, face, 64) - reference_face(src, face, 64))
        assert err.max() <= 8, face


@pytest.mark.parametrize("interpolation", [cv2.INTER_CUBIC, cv2.INTER_LANCZOS4])
def test_wide_kernels_never_fetch_the_other_pole(interpolation):
    src = np.full((64, 128, 3), 100, np.uint8)
    src[32:] = 250
    up = CubeProjector().project_face(src, "u", 48, interpolation=interpolation)
    down = CubeProjector().project_face(src, "d", 48, interpolation=interpolation)
    assert np.abs(up.astype(int) - 100).max() <= 1
    assert np.abs(down.astype(int) - 250).max() <= 1


def test_rotation_is_folded_into_the_maps(pano):
    small = cv2.resize(pano, (1024, 512), interpolation=cv2.INTER_AREA)
    quarter_turn = np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]], dtype=float)  # f looks at r
    projector = CubeProjector()
    turned = projector.project_face(small, "f", 128, rotation=quarter_turn)
    right = projector.project_face(small, "r", 128)
    assert np.abs(turned.astype(int) - right).max() <= 2


# Region colours (BGR) by dominant axis, and a marker 25 deg right and up of each side face
# centre (about 60 deg up/down and 45 deg off the axis for u and d): every marker must show
# in the upper-right quadrant of its face, which catches mirrored or turned faces.
COLOURS = {
    "f": (0, 0, 255),  # yaw 0 red
    "r": (0, 255, 0),  # yaw 90 green
    "b": (255, 0, 0),  # yaw 180 blue
    "l": (0, 255, 255),  # yaw -90 yellow
    "u": (255, 255, 255),  # top white
    "d": (0, 0, 0),  # bottom black
}
MARKERS = {  # (yaw, pitch) in degrees
    "f": (25, 25),
    "r": (115, 25),
    "b": (-155, 25),
    "l": (-65, 25),
    "u": (135, 60),
    "d": (45, -60),
}
MAGENTA = (255, 0, 255)


@pytest.fixture(scope="module")
def painted() -> np.ndarray:
    width, height = 1024, 512
    yaw = ((np.arange(width) + 0.5) / width - 0.5) * 360
    pitch = (0.5 - (np.arange(height) + 0.5) / height) * 180
    d = direction(*np.meshgrid(yaw, pitch))
    axis = np.abs(d).argmax(-1)
    positive = np.take_along_axis(d, axis[..., None], -1)[..., 0] > 0
    palette = np.array([COLOURS[f] for f in ("l", "r", "d", "u", "b", "f")], np.uint8)
    img = palette[axis * 2 + positive]  # -x +x -y +y -z +z
    for yaw_m, pitch_m in MARKERS.values():
        img[d @ direction(yaw_m, pitch_m) > math.cos(math.radians(6))] = MAGENTA
    return img


@pytest.mark.parametrize("face", FACES)
def test_face_orientation_on_painted_sphere(painted, face):
    out = CubeProjector().project_face(painted, face, 128)
    assert tuple(out[64, 64]) == COLOURS[face]
    rows, cols = np.nonzero(np.all(out == MAGENTA, axis=-1))
    assert rows.size > 50
    assert rows.mean() < 64 < cols.mean(), f"marker of {face} is not upper-right"


def test_cache_is_bounded_and_keyed():
    src = np.zeros((64, 128, 3), np.uint8)
    projector = CubeProjector(maxsize=2)
    for face in ("f", "b", "u"):
        projector.project_face(src, face, 16)
    assert len(projector) == 2
    projector.clear()
    nearly = np.eye(3) + 1e-13
    projector.project_face(src, "f", 16, rotation=np.eye(3))
    projector.project_face(src, "f", 16, rotation=nearly)
    projector.project_face(src, "f", 16)
    assert len(projector) == 1
    projector.project_face(src, "f", 16, interpolation=cv2.INTER_NEAREST)
    assert len(projector) == 2


def test_project_cube_and_bad_arguments():
    src = np.zeros((64, 128, 3), np.uint8)
    projector = CubeProjector()
    assert sorted(projector.project_cube(src, 8)) == sorted(FACES)
    with pytest.raises(ValueError, match="unknown cube face"):
        projector.project_face(src, "x", 8)
    with pytest.raises(ValueError, match="not supported"):
        projector.project_face(src, "f", 8, interpolation=cv2.INTER_AREA)
    with pytest.raises(ValueError, match="not a proper rotation"):
        projector.project_face(src, "f", 8, rotation=np.diag([1.0, 1.0, -1.0]))
