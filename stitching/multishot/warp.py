"""Frames resampled straight into the equirect canvas through their cameras.

cv2's spherical warper cannot wrap, so a frame is resampled (bicubic) here, and a frame
that straddles yaw +-180 deg is cut into two pieces, one at each end of the canvas.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from stitching.multishot.scratch import Scratch

# Canvas-to-frame maps are built every _MAP_STEP px and interpolated (see warp_frame); depth
# below _MIN_Z (in px of focal, i.e. behind or beside the camera) has no image.
_MAP_STEP = 4
_MIN_Z = 1e-6


def canvas_pieces(
    k: np.ndarray, r: np.ndarray, size: tuple[int, int], width: int, seam_yaw: float
) -> list[tuple[int, int, int, int]]:
    """Canvas boxes (x, y, w, h) a frame covers; two when it straddles the canvas edge."""
    w, h = size
    height = width // 2
    t = np.linspace(0, 1, 64)
    border = np.concatenate(
        [
            np.stack([t * w, np.zeros_like(t)], 1),
            np.stack([t * w, np.full_like(t, h)], 1),
            np.stack([np.zeros_like(t), t * h], 1),
            np.stack([np.full_like(t, w), t * h], 1),
        ]
    )
    rays = (r @ np.linalg.inv(k) @ np.column_stack([border, np.ones(len(border))]).T).T
    yaw = (np.arctan2(rays[:, 0], rays[:, 2]) - seam_yaw) % (2 * math.pi)
    pitch = np.arctan2(-rays[:, 1], np.hypot(rays[:, 0], rays[:, 2]))
    rows = (0.5 - pitch / math.pi) * height
    top, bottom = int(max(0, rows.min() - 2)), int(min(height, rows.max() + 3))
    for pole, pole_row in ((np.array([0.0, -1.0, 0.0]), 0), (np.array([0.0, 1.0, 0.0]), height)):
        cam = r.T @ pole
        if cam[2] > 0:
            px = k @ (cam / cam[2])
            if 0 <= px[0] <= w and 0 <= px[1] <= h:
                top, bottom = (0, bottom) if pole_row == 0 else (top, height)
                return [(0, top, width, bottom - top)]
    cols = np.sort(yaw / (2 * math.pi) * width)
    gaps = np.diff(np.concatenate([cols, [cols[0] + width]]))
    start_i = (int(np.argmax(gaps)) + 1) % len(cols)
    start = int(math.floor(cols[start_i])) - 2
    span = int(math.ceil(width - gaps.max())) + 5
    if span >= width:
        return [(0, top, width, bottom - top)]
    start %= width
    if start + span <= width:
        return [(start, top, span, bottom - top)]
    return [(start, top, width - start, bottom - top), (0, top, start + span - width, bottom - top)]


def warp_frame(
    img: np.ndarray,
    k: np.ndarray,
    r: np.ndarray,
    box: tuple[int, int, int, int],
    width: int,
    seam_yaw: float,
    scratch: Scratch | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample a frame into a canvas box: (uint8 (h, w, 3) image, uint8 (h, w) mask).

    With ``scratch`` the maps and both results live in its buffers (``warp_*``): valid
    until the next call with the same scratch.
    """
    pool = scratch or Scratch()
    x0, y0, bw, bh = box
    u = v = None
    h, w = img.shape[:2]
    mask = pool.get("warp_mask", (bh, bw), np.uint8)
    if min(bw, bh) >= 4 * _MAP_STEP:
        # The map is smooth where the box stays in front of the camera: build it every
        # _MAP_STEP px (one sample beyond each edge) and interpolate, 0.01 px at most
        # off. cv2.resize puts coarse sample j at fine (j + 0.5) * step - 0.5.
        s = _MAP_STEP
        nx, ny = -(-bw // s) + 2, -(-bh // s) + 2
        cu, cv, cz = _frame_coords(
            k,
            r,
            x0 + (np.arange(nx) - 0.5) * s - 0.5,
            y0 + (np.arange(ny) - 0.5) * s - 0.5,
            width,
            seam_yaw,
        )
        if (cz > _MIN_Z).all():
            size = (nx * s, ny * s)
            fu = cv2.resize(
                cu, size, dst=pool.get("warp_u", size[::-1]), interpolation=cv2.INTER_LINEAR
            )
            fv = cv2.resize(
                cv, size, dst=pool.get("warp_v", size[::-1]), interpolation=cv2.INTER_LINEAR
            )
            u, v = fu[s : s + bh, s : s + bw], fv[s : s + bh, s : s + bw]
            mask.fill(255)
    if u is None or v is None:
        u, v, z = _frame_coords(
            k, r, np.arange(x0, x0 + bw, dtype=np.float64), np.arange(y0, y0 + bh), width, seam_yaw
        )
        mask[...] = z > _MIN_Z
        mask *= 255
    inside = pool.get("warp_in", (bh, bw), np.uint8)
    for coord, n in ((u, w), (v, h)):
        cv2.inRange(coord, -0.5, n - 0.5, dst=inside)
        cv2.bitwise_and(mask, inside, dst=mask)
    # Outside the frame, BORDER_REPLICATE continues its edge: the blender's coarse bands
    # reach past a mask's edge, and a step there would show as a faint line.
    warped = cv2.remap(
        img, u, v, cv2.INTER_CUBIC, dst=pool.get("warp_img", (bh, bw, 3), np.uint8),
        borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip
    return warped, mask


def _frame_coords(
    k: np.ndarray,
    r: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    width: int,
    seam_yaw: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where canvas columns ``xs`` x rows ``ys`` (px, may be fractional) land in a frame.

    Returns
    -------
    tuple of np.ndarray
        float32 (len(ys), len(xs)) each: u, v in cv2.remap's convention, and the depth z
        in front of the camera (u, v are meaningless where z <= 0).
    """
    height = width // 2
    yaw = seam_yaw + (xs + 0.5) / width * 2 * math.pi
    pitch = (0.5 - (ys + 0.5) / height) * math.pi
    cp = np.cos(pitch).astype(np.float32)[:, None]
    sp = np.sin(pitch).astype(np.float32)[:, None]
    sy, cy = np.sin(yaw), np.cos(yaw)
    m = k @ r.T
    # The world ray of a canvas pixel is (cp sy, -sp, cp cy): each camera coordinate is
    # an outer product plus a column, cheap to build in float32.
    cam = [
        cp * (m[i, 0] * sy + m[i, 2] * cy).astype(np.float32)[None, :] - sp * np.float32(m[i, 1])
        for i in range(3)
    ]
    z = cam[2]
    safe = np.where(z > _MIN_Z, z, np.float32(1.0))
    return cam[0] / safe - np.float32(0.5), cam[1] / safe - np.float32(0.5), z
