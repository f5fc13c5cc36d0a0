"""Exposure gains, graph-cut seams and multi-band blending of the warped frames.

Gains are solved from the overlaps of the frames warped at seam scale, seams are cut on
exposure-matched copies at ~0.1 MP, and the full-size pieces are warped and blended band
by band of canvas rows (:mod:`stitching.multishot.blend`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import cv2
import numpy as np

from stitching.multishot.blend import Layer, blend_bands
from stitching.multishot.rig import yaw_of
from stitching.multishot.scratch import Scratch
from stitching.multishot.warp import canvas_pieces, warp_frame

#: The multi-band blender's coarsest band is canvas width / BLEND_SPAN px: 1/512 of the
#: way round, about 0.7 deg. The gains already match the exposures; wider bands only carry
#: clipped highlights and misregistered detail further.
BLEND_SPAN = 512
SEAM_COST = "COST_COLOR"  # cv2's graph-cut cost
GAIN_DARK, GAIN_CLIP = 8, 250  # grey levels left out of the exposure ratios
GAIN_MIN_PIXELS = 50  # seam-scale overlap pixels for a pair's exposure ratio to count
#: With one fixed exposure, no frame's gain strays further from 1 than this (about 1/3 EV,
#: the vignetting of a wide lens between centre and edge).
FIXED_GAIN_LIMIT = 1.25
FIXED_GAIN_HUBER = 0.05  # log-ratio misfit of a pair beyond which it counts linearly
#: A frame all of whose overlaps ask for a log gain this far beyond the smooth model
#: (x1.35, about 0.4 EV) gets a gain of its own: its exposure was not the set's.
FIXED_GAIN_STEP = 0.3
FIXED_GAIN_ITERATIONS = 10


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
    *,
    fixed_exposure: bool = False,
    band_rows: int | None = None,
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
    fixed_exposure:
        Whether every frame was shot at one exposure (manual exposure, or EXIF says so):
        gains are then a smooth function of yaw near 1 rather than one free gain per
        frame (see :func:`_gains`).
    band_rows:
        Canvas rows warped and blended at once (:func:`~stitching.multishot.blend.blend_bands`;
        default from :data:`~stitching.multishot.blend.BAND_PIXELS`); memory grows with
        it; the result changes by rounding only (a grey level or two).

    Returns
    -------
    tuple
        (uint8 (width // 2, width, 3) BGR equirect, black where no frame reaches; one
        exposure gain per frame).
    """
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
    yaws = [yaw_of(r) for r in rotations] if fixed_exposure else None
    gains = _gains(pieces_small, warped_small, masks_small, len(images), yaws)
    masks_small = _give_up_clipped(pieces_small, warped_small, masks_small, (sw, sw // 2))

    # Seams are cut on the exposure-matched copies, so colour cost means content.
    matched = [
        im.astype(np.float32) * np.float32(gains[p.index])
        for im, p in zip(warped_small, pieces_small, strict=True)
    ]
    seam_finder = cv2.detail.GraphCutSeamFinder(SEAM_COST)
    seam_masks = seam_finder.find(
        matched,  # type: ignore[arg-type]
        corners,
        masks_small,  # type: ignore[arg-type]
    )

    bands = max(1, round(math.log2(width / BLEND_SPAN)))
    # Beyond its seam a piece still feeds the blender's coarse levels, about four of the
    # coarsest level's pixels deep; keep 8 of them and warp nothing further out.
    reach = 8 << bands
    layers = []
    for piece, seam in zip(pieces_small, seam_masks, strict=True):
        k, r = intrinsics[piece.index], rotations[piece.index]
        seam_np = cv2.dilate(
            cv2.UMat.get(seam) if isinstance(seam, cv2.UMat) else np.asarray(seam),
            np.ones((3, 3), np.uint8),
        )
        lut = (np.arange(256) * gains[piece.index]).astype(np.float32)
        for box in canvas_pieces(k, r, size, width, seam_yaw):
            if not _same_side(box, piece, s_ratio, width):
                continue
            used = _crop(box, _seam_box(seam_np, piece, s_ratio), reach)
            if used is None:
                continue
            render = partial(
                _render, images[piece.index], k, r, lut, seam_np, piece,
                width=width, seam_yaw=seam_yaw, s_ratio=s_ratio,
            )  # fmt: skip
            layers.append(Layer(used, render))
    return blend_bands(layers, width, bands, band_rows), gains


def _render(
    img: np.ndarray,
    k: np.ndarray,
    r: np.ndarray,
    lut: np.ndarray,
    seam: np.ndarray,
    piece: _Piece,
    box: tuple[int, int, int, int],
    image: np.ndarray,
    weight: np.ndarray,
    scratch: Scratch,
    *,
    width: int,
    seam_yaw: float,
    s_ratio: float,
) -> None:
    """A frame warped into a canvas box, gain applied, and its weight cut by its seam:
    float32 ``image`` (h, w, 3) and ``weight`` (h, w) are written in place."""
    wimg, wmask = warp_frame(img, k, r, box, width, seam_yaw, scratch)
    # The gain is applied unclipped through a 256-entry float32 table, far cheaper than
    # a multiply: a brightened highlight is kept until the end.
    cv2.LUT(wimg, lut, dst=image)
    cut = _seam_mask(seam, piece, box, s_ratio, scratch.get("seam", wmask.shape, np.uint8))
    mask = cv2.bitwise_and(wmask, cut, dst=wmask)
    np.multiply(mask, np.float32(1 / 255), out=weight)


def _seam_box(seam: np.ndarray, piece: _Piece, s_ratio: float) -> tuple[int, int, int, int]:
    """Canvas box (x0, y0, x1, y1) of full-size px that a seam-scale mask reaches."""
    ys, xs = np.nonzero(seam)
    if not len(xs):
        return (0, 0, 0, 0)
    return (
        int(math.floor((piece.x + xs.min()) / s_ratio)),
        int(math.floor((piece.y + ys.min()) / s_ratio)),
        int(math.ceil((piece.x + xs.max() + 1) / s_ratio)),
        int(math.ceil((piece.y + ys.max() + 1) / s_ratio)),
    )


def _crop(
    box: tuple[int, int, int, int], reach_box: tuple[int, int, int, int], pad: int
) -> tuple[int, int, int, int] | None:
    """``box`` (x, y, w, h) cut to ``reach_box`` (x0, y0, x1, y1) grown by ``pad``; None if
    they do not meet."""
    x0, y0 = max(box[0], reach_box[0] - pad), max(box[1], reach_box[1] - pad)
    x1 = min(box[0] + box[2], reach_box[2] + pad)
    y1 = min(box[1] + box[3], reach_box[3] + pad)
    if x1 <= x0 or y1 <= y0 or reach_box[2] <= reach_box[0]:
        return None
    return (x0, y0, x1 - x0, y1 - y0)


def _gains(
    pieces: list[_Piece],
    warped: list[np.ndarray],
    masks: list[np.ndarray],
    n: int,
    yaws: list[float] | None = None,
) -> list[float]:
    """One exposure gain per frame from the overlaps of the seam-scale pieces.

    Each overlap of two frames gives the ratio of their summed intensities over pixels
    that neither clips nor leaves in the dark; the log gains are fitted to those ratios
    by least squares (weighted by overlap size) with their mean held at 0. Unlike cv2's
    gain compensator this has no pull towards 1, which shrinks real exposure steps, and
    a frame's pieces at either end of the canvas share its one gain.

    With ``yaws`` (radians, one per frame: a set shot at one fixed exposure) the log gain
    is not free per frame but a smooth, periodic function of yaw, a + b cos + c sin, and
    is then held within FIXED_GAIN_LIMIT of 1: what is left to correct is vignetting and
    light falling off across the room, not exposure. The fit is robust (Huber, iterated):
    a near object that parallax puts at different places in two frames, or someone
    walking through one overlap, then cannot make one frame twice as bright as its
    neighbours. The ring is solved whole, the pair across the wrap included, so the
    gains close round it. One exception: a frame that all its overlaps find off the
    model by more than FIXED_GAIN_STEP in the same direction (its own exposure differed:
    an auto exposure left on) gets a free gain of its own on top.
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
    # log gains = basis @ params: one per frame, or a first harmonic of yaw.
    basis = np.eye(n)
    if yaws is not None:
        basis = np.column_stack([np.ones(n), np.cos(yaws), np.sin(yaws)])
    pairs, target = np.array(rows), np.array(rhs)
    params = _fit(pairs @ basis, target, w, robust=yaws is not None)
    if yaws is None:
        return [float(g) for g in np.exp(basis @ params)]
    # A frame that every one of its overlaps finds brighter (or darker) than the smooth
    # model by more than FIXED_GAIN_STEP was not shot at the set's exposure after all
    # (an auto exposure left on: the lunchroom frame facing the windows is about 1 EV
    # darker): it gets a gain of its own, unclipped. Something in one overlap only
    # (parallax, a passer-by) pulls one pair, not all of a frame's pairs.
    pull = target[:-1] - pairs[:-1] @ basis @ params  # what g_i - g_j still misses
    own = []
    for f in range(n):
        side = pairs[:-1, f]
        wants = pull[side != 0] * side[side != 0]  # the change in log g_f each pair asks
        if len(wants) >= 2 and (
            (wants > FIXED_GAIN_STEP).all() or (wants < -FIXED_GAIN_STEP).all()
        ):
            own.append(f)
    limit = math.log(FIXED_GAIN_LIMIT)
    if own:
        basis = np.column_stack([basis, np.eye(n)[:, own]])
        params = _fit(pairs @ basis, target, w, robust=True)
    log_gains = basis[:, :3] @ params[:3]
    log_gains = np.clip(log_gains, -limit, limit) + basis[:, 3:] @ params[3:]
    return [float(g) for g in np.exp(log_gains)]


def _fit(design: np.ndarray, target: np.ndarray, w: np.ndarray, *, robust: bool) -> np.ndarray:
    """Weighted least squares of the log-gain rows; with ``robust``, Huber-reweighted so a
    pair whose ratio the model cannot follow (something else in its overlap) does not
    bend the others. The last row (mean log gain 0) keeps its weight."""
    params, *_ = np.linalg.lstsq(design * w, target * w[:, 0], rcond=None)
    for _ in range(FIXED_GAIN_ITERATIONS if robust else 0):
        residual = np.abs(design @ params - target)
        huber = np.minimum(1.0, FIXED_GAIN_HUBER / np.maximum(residual, 1e-12))
        huber[-1] = 1.0
        wk = w * np.sqrt(huber)[:, None]
        params, *_ = np.linalg.lstsq(design * wk, target * wk[:, 0], rcond=None)
    return np.asarray(params)


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
    seam: np.ndarray,
    piece: _Piece,
    box: tuple[int, int, int, int],
    s_ratio: float,
    dst: np.ndarray | None = None,
) -> np.ndarray:
    """The (dilated) low-resolution seam mask of a piece, scaled onto a full-size box."""
    x0, y0, bw, bh = box
    # Where the full box sits in the small piece's coordinates.
    sx0 = x0 * s_ratio - piece.x
    sy0 = y0 * s_ratio - piece.y
    affine = np.array([[s_ratio, 0, sx0], [0, s_ratio, sy0]], dtype=np.float64)
    return cv2.warpAffine(
        seam,
        affine,
        (bw, bh),
        dst=dst,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
    )
