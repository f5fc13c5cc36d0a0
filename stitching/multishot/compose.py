"""Exposure gains, graph-cut seams and multi-band blending of the warped frames.

Gains are solved from the overlaps of the frames warped at seam scale, seams are cut on
exposure-matched copies at ~0.1 MP, and the full-size pieces are fed to OpenCV's
multi-band blender.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from stitching.multishot.warp import canvas_pieces, warp_frame

#: The multi-band blender's coarsest band is canvas width / BLEND_SPAN px: 1/512 of the
#: way round, about 0.7 deg. The gains already match the exposures; wider bands only carry
#: clipped highlights and misregistered detail further.
BLEND_SPAN = 512
GAIN_DARK, GAIN_CLIP = 8, 250  # grey levels left out of the exposure ratios
GAIN_MIN_PIXELS = 50  # seam-scale overlap pixels for a pair's exposure ratio to count


@dataclass(frozen=True, slots=True)
class _Piece:
    index: int  # frame index
    x: int  # canvas box, px
    y: int
    w: int
    h: int


def scaled_size(w: int, h: int, scale: float) -> tuple[int, int]:
    """A size to resize to by ``scale``; given explicitly, cv2 maps each axis by exactly
    the ratio of the sizes (with ``fx`` alone, the two axes disagree by the rounding)."""
    return max(1, int(round(w * scale))), max(1, int(round(h * scale)))


def compose(
    images: list[np.ndarray],
    intrinsics: list[np.ndarray],
    rotations: list[np.ndarray],
    width: int,
    seam_yaw: float,
    seam_scale: float,
) -> tuple[np.ndarray, list[float]]:
    """Exposure-compensate, find seams at low resolution, multi-band blend at full.

    Parameters
    ----------
    images:
        uint8 (h, w, 3) BGR frames of one size, one per placed position.
    intrinsics, rotations:
        Per frame: float64 (3, 3) camera matrix (px of the frame) and camera -> world
        rotation in OpenCV's axes.
    width:
        Canvas width in px (even); the canvas is ``width // 2`` high.
    seam_yaw:
        Yaw in radians that canvas column 0 looks along.
    seam_scale:
        Frame scale at which exposures are compared and seams cut.

    Returns
    -------
    tuple
        (uint8 (width // 2, width, 3) BGR equirect, black where no frame reaches; one
        exposure gain per frame).
    """
    height = width // 2
    size = (images[0].shape[1], images[0].shape[0])
    sw = max(64, int(round(width * seam_scale)) // 2 * 2)
    s_ratio = sw / width

    pieces_small: list[_Piece] = []
    warped_small, masks_small = [], []
    for i, (img, k, r) in enumerate(zip(images, intrinsics, rotations, strict=True)):
        ss = scaled_size(size[0], size[1], seam_scale)
        ks = k.copy()
        ks[0] *= ss[0] / size[0]
        ks[1] *= ss[1] / size[1]
        small = cv2.resize(img, ss, interpolation=cv2.INTER_AREA)
        for box in canvas_pieces(ks, r, ss, sw, seam_yaw):
            wimg, wmask = warp_frame(small, ks, r, box, sw, seam_yaw)
            pieces_small.append(_Piece(i, *box))
            warped_small.append(wimg)
            masks_small.append(wmask)
    corners = [(p.x, p.y) for p in pieces_small]
    gains = _gains(pieces_small, warped_small, masks_small, len(images))
    masks_small = _give_up_clipped(pieces_small, warped_small, masks_small, (sw, sw // 2))

    # Seams are cut on the exposure-matched copies, so colour cost means content.
    matched = [
        im.astype(np.float32) * np.float32(gains[p.index])
        for im, p in zip(warped_small, pieces_small, strict=True)
    ]
    seam_finder = cv2.detail.GraphCutSeamFinder("COST_COLOR")
    seam_masks = seam_finder.find(
        matched,  # type: ignore[arg-type]
        corners,
        masks_small,  # type: ignore[arg-type]
    )

    bands = max(1, round(math.log2(width / BLEND_SPAN)))
    blender = cv2.detail.MultiBandBlender(0, bands)
    blender.prepare((0, 0, width, height))
    for piece, seam in zip(pieces_small, seam_masks, strict=True):
        k, r, img = intrinsics[piece.index], rotations[piece.index], images[piece.index]
        for box in canvas_pieces(k, r, size, width, seam_yaw):
            if not _same_side(box, piece, s_ratio, width):
                continue
            wimg, wmask = warp_frame(img, k, r, box, width, seam_yaw)
            seam_full = _seam_mask(
                cv2.UMat.get(seam) if isinstance(seam, cv2.UMat) else seam, piece, box, s_ratio
            )
            mask = cv2.bitwise_and(wmask, seam_full)
            # Gains are applied unclipped: int16 holds a brightened highlight until the end.
            g = gains[piece.index]
            lifted = cv2.multiply(wimg, (g, g, g, 0.0), dtype=cv2.CV_16S)
            blender.feed(lifted, mask, (box[0], box[1]))
    result, _ = blender.blend(None, None)  # type: ignore[call-overload]
    return cv2.convertScaleAbs(result), gains


def _gains(
    pieces: list[_Piece], warped: list[np.ndarray], masks: list[np.ndarray], n: int
) -> list[float]:
    """One exposure gain per frame from the overlaps of the seam-scale pieces.

    Each overlap of two frames gives the ratio of their summed intensities over pixels
    that neither clips nor leaves in the dark; the log gains are fitted to those ratios
    by least squares (weighted by overlap size) with their mean held at 0. Unlike cv2's
    gain compensator this has no pull towards 1, which shrinks real exposure steps, and
    a frame's pieces at either end of the canvas share its one gain.
    """
    sums: dict[tuple[int, int], list[float]] = {}
    grays = [w.astype(np.float32).mean(axis=2) for w in warped]
    # A pixel any channel of which clips says nothing about exposure.
    usable = [
        (m > 0) & (w.max(axis=2) < GAIN_CLIP) & (w.min(axis=2) > GAIN_DARK)
        for w, m in zip(warped, masks, strict=True)
    ]
    for a, pa in enumerate(pieces):
        for b, pb in enumerate(pieces):
            if pa.index >= pb.index:
                continue
            x0, y0 = max(pa.x, pb.x), max(pa.y, pb.y)
            x1, y1 = min(pa.x + pa.w, pb.x + pb.w), min(pa.y + pa.h, pb.y + pb.h)
            if x1 <= x0 or y1 <= y0:
                continue
            ga = grays[a][y0 - pa.y : y1 - pa.y, x0 - pa.x : x1 - pa.x]
            gb = grays[b][y0 - pb.y : y1 - pb.y, x0 - pb.x : x1 - pb.x]
            ok = (
                usable[a][y0 - pa.y : y1 - pa.y, x0 - pa.x : x1 - pa.x]
                & usable[b][y0 - pb.y : y1 - pb.y, x0 - pb.x : x1 - pb.x]
            )
            acc = sums.setdefault((pa.index, pb.index), [0.0, 0.0, 0.0])
            acc[0] += float(ga[ok].sum())
            acc[1] += float(gb[ok].sum())
            acc[2] += float(ok.sum())
    rows, rhs, weights = [], [], []
    for (i, j), (sa, sb, count) in sums.items():
        if count < GAIN_MIN_PIXELS:
            continue
        # gain_i * a = gain_j * b over the overlap
        row = np.zeros(n)
        row[i], row[j] = 1.0, -1.0
        rows.append(row)
        rhs.append(math.log(sb / sa))
        weights.append(math.sqrt(count))
    rows.append(np.ones(n))
    rhs.append(0.0)
    weights.append(math.sqrt(sum(c for *_, c in sums.values()) + 1.0))
    w = np.array(weights)[:, None]
    log_gains, *_ = np.linalg.lstsq(np.array(rows) * w, np.array(rhs) * w[:, 0], rcond=None)
    return [float(g) for g in np.exp(log_gains)]


def _give_up_clipped(
    pieces: list[_Piece],
    warped: list[np.ndarray],
    masks: list[np.ndarray],
    canvas: tuple[int, int],
) -> list[np.ndarray]:
    """Masks for the seam finder in which a frame gives up its clipped pixels wherever
    another frame sees them unclipped (a blown sky in one frame is often fine in the
    next one, which was exposed for it)."""
    clean = np.zeros(canvas[::-1], dtype=np.int32)
    clipped = []
    for p, w, m in zip(pieces, warped, masks, strict=True):
        c = (w.max(axis=2) >= GAIN_CLIP) & (m > 0)
        clipped.append(c)
        clean[p.y : p.y + p.h, p.x : p.x + p.w] += (m > 0) & ~c
    out = []
    for p, m, c in zip(pieces, masks, clipped, strict=True):
        elsewhere = clean[p.y : p.y + p.h, p.x : p.x + p.w] > 0
        out.append(np.where(c & elsewhere, 0, m).astype(np.uint8))
    return out


def _same_side(box: tuple[int, int, int, int], piece: _Piece, s_ratio: float, width: int) -> bool:
    """Whether a full-size piece and a seam-scale piece are the same end of a frame."""
    centre_full = (box[0] + box[2] / 2) / width
    centre_small = (piece.x + piece.w / 2) * 1.0 / (width * s_ratio)
    return abs(centre_full - centre_small) < 0.25


def _seam_mask(
    seam: np.ndarray, piece: _Piece, box: tuple[int, int, int, int], s_ratio: float
) -> np.ndarray:
    """The low-resolution seam mask of a piece, scaled onto the full-size box."""
    x0, y0, bw, bh = box
    # Where the full box sits in the small piece's coordinates.
    sx0 = x0 * s_ratio - piece.x
    sy0 = y0 * s_ratio - piece.y
    m = cv2.dilate(np.asarray(seam), np.ones((3, 3), np.uint8))
    affine = np.array([[s_ratio, 0, sx0], [0, s_ratio, sy0]], dtype=np.float64)
    return cv2.warpAffine(
        m,
        affine,
        (bw, bh),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
    )
