"""Scores of the stitching tests: how close a stitched panorama is to the truth.

Test-harness code, not product code (the product only measures seams, with
:func:`stitching.flow.tile_shifts`). Scores on an equirect weight each row by the cosine of
its latitude, so the stretched polar rows count for the solid angle they cover, not their
pixel count; :func:`align_to` removes the global rotation a stitch may have before scoring.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from stitching.equirect import rotate_equirect
from stitching.flow import tile_shifts
from stitching.sphere import FACES, face_directions, rotation_from_vector
from tiling.cube import CubeProjector


def latitude_weights(height: int) -> np.ndarray:
    """float64 (height,): cos(latitude) of each equirect row centre."""
    lat = (0.5 - (np.arange(height) + 0.5) / height) * math.pi
    return np.cos(lat)


def coverage(img: np.ndarray, empty_level: int = 0, within: np.ndarray | None = None) -> float:
    """Latitude-weighted fraction of an equirect's pixels that hold picture.

    Parameters
    ----------
    img:
        uint8 (H, W, 3) or (H, W) equirect, or a bool (H, W) mask of covered pixels.
    empty_level:
        Pixels whose every channel is <= this are empty (the stitchers leave 0).
    within:
        Optional bool (H, W): score the fraction of this region that is covered (e.g.
        the footprint of the views that were stitched) instead of the whole sphere.
    """
    covered = img if img.dtype == bool else _gray_max(img) > empty_level
    region = np.ones(covered.shape, dtype=bool) if within is None else within
    w = latitude_weights(covered.shape[0])[:, None]
    return float(((covered & region) * w).sum() / (region * w).sum())


def psnr(result: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Latitude-weighted PSNR in dB of two uint8 equirects of the same shape.

    ``mask`` (bool (H, W)) limits the score to covered pixels; inf when identical.
    """
    diff = (result.astype(np.float64) - truth.astype(np.float64)) ** 2
    per_px = diff.mean(axis=2) if diff.ndim == 3 else diff
    weights = np.broadcast_to(latitude_weights(per_px.shape[0])[:, None], per_px.shape)
    if mask is not None:
        weights = weights * mask
    mse = float((per_px * weights).sum() / weights.sum())
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def ssim(result: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Latitude-weighted mean SSIM (Wang et al. 2004, 11 px Gaussian, sigma 1.5) on luma."""
    a = _luma(result)
    b = _luma(truth)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a * mu_a
    var_b = blur(b * b) - mu_b * mu_b
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    )
    weights = np.broadcast_to(latitude_weights(s.shape[0])[:, None], s.shape)
    if mask is not None:
        weights = weights * mask
    return float((s * weights).sum() / weights.sum())


def align_to(
    result: np.ndarray, truth: np.ndarray, *, face_size: int = 256, iterations: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Remove the global rotation between a stitched equirect and the truth.

    Both are projected to cube faces, tiles are phase-correlated, and the small rotation
    that best explains the tile shifts is solved for and applied; repeated ``iterations``
    times. The result must already be within a few degrees of the truth.

    Returns
    -------
    tuple
        (aligned uint8 equirect of ``result``'s shape, float64 (3, 3) rotation applied,
        as taken by :func:`stitching.equirect.rotate_equirect`).
    """
    total = np.eye(3)
    projector = CubeProjector(maxsize=12)
    aligned = result
    tile = max(16, face_size // 8)
    for _ in range(iterations):
        rows, rhs = [], []
        for face in FACES:
            fa = projector.project_face(truth, face, face_size)
            fb = projector.project_face(aligned, face, face_size)
            valid = _gray_max(fb) > 0
            found = tile_shifts(fa, fb, tile, valid).trusted()
            dirs = face_directions(face, face_size).astype(np.float64)
            for (cx, cy), (dx, dy) in zip(found.centres, found.shifts, strict=True):
                i, j = int(cx), int(cy)
                p = dirs[j, i]
                # Tangent directions of +x and +y on the face at this pixel, per px.
                tx = dirs[j, min(i + 1, face_size - 1)] - dirs[j, max(i - 1, 0)]
                ty = dirs[min(j + 1, face_size - 1), i] - dirs[max(j - 1, 0), i]
                span_x = 2 if 0 < i < face_size - 1 else 1
                span_y = 2 if 0 < j < face_size - 1 else 1
                move = tx / span_x * dx + ty / span_y * dy
                # Content of b at p shows what truth shows at p + move = p + w x p.
                rows.append(_cross_matrix(p))
                rhs.append(move)
        if len(rows) < 6:
            break
        m = np.concatenate(rows)
        omega, *_ = np.linalg.lstsq(m, np.concatenate(rhs), rcond=None)
        step = rotation_from_vector(omega)
        total = total @ step.T
        aligned = rotate_equirect(result, total)
        if np.linalg.norm(omega) < 1e-5:
            break
    return aligned, total


def _cross_matrix(v: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


def _luma(img: np.ndarray) -> np.ndarray:
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.dtype == np.uint8 else img.mean(axis=2)
    return img.astype(np.float32)


def _gray_max(img: np.ndarray) -> np.ndarray:
    return img.max(axis=2) if img.ndim == 3 else img
