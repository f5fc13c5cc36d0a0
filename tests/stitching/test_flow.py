"""Tile shifts: dense flow per tile recovers a known sub-pixel shift."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from stitching.flow import tile_shifts


@pytest.fixture(scope="module")
def small(pano: np.ndarray) -> np.ndarray:
    return cv2.resize(pano, (512, 256), interpolation=cv2.INTER_AREA)


def test_tile_shifts_recover_a_known_shift(small: np.ndarray) -> None:
    moved = cv2.warpAffine(small, np.float32([[1, 0, 1.5], [0, 1, -0.5]]), (512, 256))
    found = tile_shifts(small, moved, 32).trusted()
    assert len(found.shifts) > 20
    dx, dy = np.median(found.shifts, axis=0)
    assert dx == pytest.approx(1.5, abs=0.1) and dy == pytest.approx(-0.5, abs=0.1)
