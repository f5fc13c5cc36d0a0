"""The equirect as a whole image: levelling it through a rotation, placing a partial pano.

:func:`rotate_equirect` resamples a whole equirect through a rotation in one remap (the
levelling of a tilted capture); :class:`CroppedArea`, :func:`validate_area` and
:func:`place_cropped` put a partial panorama (GPano cropped-area fields) into the full 2:1
sphere. Conventions (directions, pixel centres, rotations) are :mod:`stitching.sphere`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from config.errors import QuarantineError
from stitching.sphere import (
    as_rotation,
    equirect_coords,
    fixed_point_maps,
    kernel_radius,
    remap_wrapped,
)

# Rows per band when levelling a whole equirect: bounds the float32 temporaries to tens
# of MB for an 8K master instead of ~1 GB.
_BAND_PIXELS = 1 << 21

# How far the real image height may be from the GPano one scaled by the width ratio.
_HEIGHT_TOLERANCE = 0.01


def rotate_equirect(
    img: np.ndarray,
    rotation: np.ndarray | None,
    *,
    out_width: int | None = None,
    interpolation: int = cv2.INTER_LINEAR,
) -> np.ndarray:
    """Resample an equirect through a rotation in one remap (levelling the published master).

    Parameters
    ----------
    img:
        uint8 (H, W, 3) BGR equirect (any channel count and cv2 dtype work).
    rotation:
        3x3 float matrix taking a levelled world direction to the direction in ``img``,
        e.g. from :func:`stitching.sphere.pose_rotation`; None = no rotation.
    out_width:
        Width of the result in px (None = the input width); height is ``out_width // 2``.
        Without a rotation, a smaller width is an INTER_AREA downscale; with one, the single
        remap samples the source directly, which aliases a little below half the input
        width (pre-shrink with INTER_AREA first if that matters more than one pass).
    interpolation:
        cv2 flag: INTER_LINEAR (default), INTER_NEAREST, INTER_CUBIC or INTER_LANCZOS4.

    Returns
    -------
    np.ndarray
        Shape (out_width // 2, out_width, channels), dtype of ``img``. Without a rotation
        and at the input size, ``img`` itself.

    Raises
    ------
    ValueError
        Empty image, out_width < 2, unsupported interpolation, or not a rotation.
    """
    height, width = img.shape[:2]
    if img.size == 0:
        raise ValueError(f"empty equirect of shape {img.shape}")
    out_w = width if out_width is None else int(out_width)
    if out_w < 2:
        raise ValueError(f"out_width must be at least 2 px, got {out_width}")
    out_h = out_w // 2
    kernel_radius(interpolation)
    r = as_rotation(rotation)
    if r is None:
        if (out_w, out_h) == (width, height):
            return img
        return cv2.resize(img, (out_w, out_h), interpolation=cv2.INTER_AREA)

    # A levelled pixel looks along (cos p sin y, sin p, cos p cos y); each rotated component
    # is cos p * (a function of the column) + sin p * const, built by broadcasting.
    yaw = ((np.arange(out_w) + 0.5) / out_w - 0.5) * (2.0 * math.pi)
    per_col = [(r[k, 0] * np.sin(yaw) + r[k, 2] * np.cos(yaw)).astype(np.float32) for k in range(3)]
    out = np.empty((out_h, out_w) + img.shape[2:], dtype=img.dtype)
    band = max(1, _BAND_PIXELS // out_w)
    for top in range(0, out_h, band):
        bottom = min(out_h, top + band)
        pitch = (0.5 - (np.arange(top, bottom) + 0.5) / out_h) * math.pi
        cos_p = np.cos(pitch).astype(np.float32)[:, None]
        sin_p = np.sin(pitch).astype(np.float32)[:, None]
        x, y, z = (cos_p * per_col[k][None, :] + sin_p * np.float32(r[k, 1]) for k in range(3))
        col, row = equirect_coords(x, y, z, width, height)
        maps = fixed_point_maps(col, row, height, interpolation)
        out[top:bottom] = remap_wrapped(img, maps, interpolation).reshape(out[top:bottom].shape)
    return out


@dataclass(frozen=True, slots=True)
class CroppedArea:
    """Where a partial panorama sits in the full sphere: the GPano pixel fields.

    ``full_width``/``full_height`` are FullPanoWidthPixels/FullPanoHeightPixels;
    ``left``/``top`` are CroppedAreaLeftPixels/CroppedAreaTopPixels; ``width``/``height``
    are CroppedAreaImageWidthPixels/CroppedAreaImageHeightPixels.
    """

    full_width: int
    full_height: int
    left: int
    top: int
    width: int
    height: int


def validate_area(area: CroppedArea) -> None:
    """Reject GPano cropped-area fields that cannot describe part of a 2:1 sphere.

    Raises
    ------
    config.errors.QuarantineError
        A size is zero or negative, an offset is negative, the crop reaches outside the
        full panorama, or the full panorama is not 2:1 (within 1 px).
    """
    a = area
    sizes = f"crop {a.width}x{a.height} at ({a.left}, {a.top}) in a {a.full_width}x{a.full_height}"
    problem = None
    if min(a.width, a.height, a.full_width, a.full_height) <= 0:
        problem = "a size is zero or negative"
    elif a.left < 0 or a.top < 0:
        problem = "an offset is negative"
    elif a.left + a.width > a.full_width or a.top + a.height > a.full_height:
        problem = "the crop reaches outside the full panorama"
    elif abs(a.full_width - 2 * a.full_height) > 1:
        problem = "the full panorama is not 2:1"
    if problem is not None:
        raise QuarantineError(f"GPano cropped area is nonsense ({problem}): {sizes} full pano")


def place_cropped(img: np.ndarray, area: CroppedArea) -> np.ndarray:
    """Put a partial panorama into a full 2:1 equirect canvas, black elsewhere.

    GPano pixel fields may describe the image before a downscale. When ``area.width``
    differs from the real width, every field is scaled by ``img.shape[1] / area.width``;
    the real height must then agree with the scaled ``area.height`` within 1 %.

    Parameters
    ----------
    img:
        uint8 (h, w, 3) BGR partial equirect (any channel count works).
    area:
        Its GPano placement; call :func:`validate_area` first.

    Returns
    -------
    np.ndarray
        Shape (H, 2H, channels), dtype of ``img``, H = the scaled full height; ``img``
        itself when it already is the whole panorama. Rounding of scaled offsets wraps
        horizontally (the sphere does) and clips at most a pixel row vertically.

    Raises
    ------
    config.errors.QuarantineError
        The real image size disagrees with the GPano size beyond a uniform downscale.
    """
    h, w = img.shape[:2]
    if area.width <= 0 or area.height <= 0:
        validate_area(area)
    scale = w / area.width
    expected_h = area.height * scale
    if abs(h - expected_h) > _HEIGHT_TOLERANCE * expected_h:
        raise QuarantineError(
            f"image is {w}x{h} but GPano says the cropped area is {area.width}x{area.height}; "
            f"scaled to the real width that is {w}x{expected_h:.0f}, so the metadata does not "
            "describe this image (fix or strip the GPano CroppedArea fields)"
        )
    full_h = max(1, round(area.full_height * scale))
    full_w = 2 * full_h
    if (h, w) == (full_h, full_w):
        return img
    top = min(max(0, round(area.top * scale)), max(0, full_h - h))
    left = round(area.left * scale) % full_w
    rows = min(h, full_h - top)
    cols = min(w, full_w)
    canvas = np.zeros((full_h, full_w) + img.shape[2:], dtype=img.dtype)
    first = min(cols, full_w - left)
    canvas[top : top + rows, left : left + first] = img[:rows, :first]
    if first < cols:
        canvas[top : top + rows, : cols - first] = img[:rows, first:cols]
    return canvas
