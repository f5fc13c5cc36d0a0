"""The harness's scores: latitude-weighted PSNR/SSIM, coverage, rotation removal."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from stitching.equirect import rotate_equirect
from stitching.sphere import pose_rotation
from tests.stitching.metrics import align_to, coverage, psnr, ssim


@pytest.fixture(scope="module")
def small(pano: np.ndarray) -> np.ndarray:
    return cv2.resize(pano, (512, 256), interpolation=cv2.INTER_AREA)


def test_identical_images_score_perfectly(small: np.ndarray) -> None:
    assert psnr(small, small) == math.inf
    assert ssim(small, small) == pytest.approx(1.0)


def test_psnr_matches_known_noise(small: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    noise = rng.choice([-4, 4], size=small.shape)
    noisy = np.clip(small.astype(int) + noise, 0, 255).astype(np.uint8)
    clipped = (noisy.astype(int) - small.astype(int)) ** 2
    expected = 10 * math.log10(255**2 / clipped.mean())
    assert psnr(noisy, small) == pytest.approx(expected, abs=0.3)
    assert ssim(noisy, small) < 0.99


def test_coverage_weights_rows_by_latitude() -> None:
    img = np.zeros((100, 200, 3), np.uint8)
    img[:50] = 255  # northern hemisphere: half the sphere
    assert coverage(img) == pytest.approx(0.5, abs=0.01)
    img = np.zeros((100, 200, 3), np.uint8)
    img[:10] = 255  # the polar cap: far less than a tenth of the sphere
    assert coverage(img) < 0.03
    within = np.zeros((100, 200), bool)
    within[:10] = True
    assert coverage(img, within=within) == pytest.approx(1.0)


def test_align_to_removes_a_global_rotation(small: np.ndarray) -> None:
    turned = rotate_equirect(small, pose_rotation(1.0, -0.7, 2.0))
    aligned, rotation = align_to(turned, small, face_size=128)
    residual = rotation @ pose_rotation(1.0, -0.7, 2.0)
    angle = math.degrees(math.acos(min(1.0, (np.trace(residual) - 1) / 2)))
    assert angle < 0.1
    assert psnr(aligned, small) > psnr(turned, small) + 8
