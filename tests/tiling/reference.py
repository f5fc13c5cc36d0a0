"""An independent Lanczos cube face and the JPEG ceiling it sets (tests and benchmark only).

The reference shares no code with :mod:`tiling` or :mod:`stitching.sphere`: its own face
table and sphere maths in float64, the poles continued over the top of the sphere (row
-1-k at column c is row k at column c + W/2) instead of clamped, and one
``cv2.remap(INTER_LANCZOS4)`` from float maps.

The JPEG ceiling of a face is what the reference itself scores against itself after the
same JPEG encoding the published tiles get (same quality, same tile cut, baseline 4:2:0):
no resampling can publish a face closer to the reference than that. The gap is the
ceiling minus the published face's PSNR against the same reference, in dB.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

_Dirs = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]

#: Face pixel (a right, b down, both -1..1) -> direction (x right, y up, z forward), in the
#: orientation of Hugin's nona and Pannellum (the published contract).
DIRECTIONS: dict[str, _Dirs] = {
    "f": lambda a, b: (a, -b, np.ones_like(a)),
    "b": lambda a, b: (-a, -b, -np.ones_like(a)),
    "l": lambda a, b: (-np.ones_like(a), -b, a),
    "r": lambda a, b: (np.ones_like(a), -b, -a),
    "u": lambda a, b: (a, np.ones_like(a), b),
    "d": lambda a, b: (a, -np.ones_like(a), -b),
}

#: Rows continued over each pole: more than Lanczos-4's reach.
POLE_PAD = 8


def lanczos_face(
    equirect: np.ndarray, face: str, size: int, rotation: np.ndarray | None = None
) -> np.ndarray:
    """Project a full-sphere equirect (uint8 (H, W, 3), W = 2H, W even) to one cube face.

    ``rotation`` (3x3) takes a face direction to the direction sampled in the source.
    Returns a (size, size, 3) uint8 face sampled with Lanczos-4 at float64-derived
    coordinates.
    """
    height, width = equirect.shape[:2]
    pad = POLE_PAD
    top = np.roll(equirect[:pad][::-1], width // 2, axis=1)
    bottom = np.roll(equirect[-pad:][::-1], width // 2, axis=1)
    src = np.concatenate([top, equirect, bottom])
    t = (np.arange(size, dtype=np.float64) + 0.5) * (2.0 / size) - 1.0
    a, b = np.meshgrid(t, t)
    x, y, z = DIRECTIONS[face](a, b)
    if rotation is not None:
        x, y, z = (rotation[k, 0] * x + rotation[k, 1] * y + rotation[k, 2] * z for k in range(3))
    yaw = np.arctan2(x, z)
    pitch = np.arctan2(y, np.hypot(x, z))
    col = (yaw / (2 * math.pi) + 0.5) * width - 0.5
    row = (0.5 - pitch / math.pi) * height - 0.5 + pad
    return cv2.remap(
        src,
        col.astype(np.float32),
        row.astype(np.float32),
        cv2.INTER_LANCZOS4,
        borderMode=cv2.BORDER_WRAP,
    )


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images of one shape, over every channel."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def jpeg_tiles(img: np.ndarray, quality: int, tile: int) -> np.ndarray:
    """``img`` cut into ``tile`` px tiles, each a baseline JPEG at ``quality``, decoded back."""
    out = np.empty_like(img)
    for top in range(0, img.shape[0], tile):
        for left in range(0, img.shape[1], tile):
            block = np.ascontiguousarray(img[top : top + tile, left : left + tile])
            ok, buf = cv2.imencode(".jpg", block, [cv2.IMWRITE_JPEG_QUALITY, quality])
            assert ok, "cv2 refused to encode a tile"
            out[top : top + tile, left : left + tile] = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out


@dataclass(frozen=True, slots=True)
class Score:
    """One face: published PSNR and the ceiling, both against the reference, in dB."""

    psnr: float
    ceiling: float

    @property
    def gap(self) -> float:
        """How far below its JPEG ceiling the published face is, dB (>= 0 is usual)."""
        return self.ceiling - self.psnr


def ceiling(reference: np.ndarray, quality: int, tile: int) -> float:
    """The JPEG ceiling of a face: the reference's own PSNR after :func:`jpeg_tiles`."""
    return psnr(jpeg_tiles(reference, quality, tile), reference)


def score(published: np.ndarray, reference: np.ndarray, quality: int, tile: int) -> Score:
    """Score decoded published pixels (``published``) against the reference's ceiling."""
    return Score(psnr(published, reference), ceiling(reference, quality, tile))
