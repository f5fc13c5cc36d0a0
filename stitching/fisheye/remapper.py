"""The dual-fisheye renderer: merged maps and seam fits cached per camera, one remap a frame.

The maps are cached per (geometry, output width), the geometry being the profile after
seam refinement, so a camera's frames after the first cost one remap each. A camera's
misalignment is fixed, so :class:`DualFisheyeRemapper` keeps the seam fit per camera and
frame size, and later frames only measure the seam to check that the fit still holds.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import replace

import cv2
import numpy as np

from stitching.fisheye.exposure import compensate, gamma_gain
from stitching.fisheye.geometry import Geometry
from stitching.fisheye.maps import MergedMaps, Zone, build_maps, centre_scale
from stitching.fisheye.prefilter import SHARPEN, Box, sharpen_lenses
from stitching.fisheye.seam import SeamFit, measure_seam, refine_seam

#: Resampling by name, as settings give it.
INTERPOLATIONS = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}
#: Default width of the feathered band across the seam, degrees of arc (see
#: :class:`DualFisheyeRemapper`).
FEATHER_DEG = 4.0
# A camera's kept seam fit is refitted on a frame whose seam shift exceeds both of these
# (px of the source; the factor is of the shift the fit left on its own frame).
_RECHECK_PX = 1.0
_RECHECK_FACTOR = 1.5
# Fits kept per remapper (one per camera and frame size; each is a few hundred bytes).
_MAX_FITS = 64
# Sharpening is skipped for outputs coarser than this fraction of the circles' own
# resolution (px per radian at the centre): there the remap skips source pixels and
# sharpening would add aliasing to what it cannot restore.
_SHARPEN_SCALE = 0.75
# Frame-sized scratch buffers kept for the sharpened source (one per concurrent render):
# a fresh 50 MB array costs its page faults on every frame.
_MAX_SCRATCH = 2
# Margin around a lens's circle that is sharpened with it (px, and fraction of the radius).
_BOX_PAD_PX, _BOX_PAD = 2, 0.02


class DualFisheyeRemapper:
    """Builds and caches merged remap maps and per-camera seam fits; renders frames.

    Safe to share between threads; keeps the last ``maxsize`` map sets (a 5760 x 2880
    output costs about 90 MB of maps) and up to two frame-sized scratch buffers for the
    sharpened source (50 MB each at 5760 x 2880; both dropped by :meth:`clear_maps`).
    ``feather_deg`` is the full width, in degrees of arc across the seam, over which the
    two lenses are blended (at most the overlap). ``interpolation`` is cv2.INTER_LINEAR or
    cv2.INTER_CUBIC: bicubic is sharper when the output is about as fine as the circles or
    finer, worse when much coarser (it aliases), and twice the time. A bilinear render
    first sharpens the frame by ``sharpen`` (the k of
    :func:`~stitching.fisheye.prefilter.sharpen_lenses`, 0 for none) in the pass that
    applies the gains, when the output samples the circles at least ``_SHARPEN_SCALE``
    times as finely as they are drawn: on the 5760 px harness frame rendered at 4096 that
    took bilinear from 34.5 to 36.0 dB (bicubic 36.8), for about an eighth of a bare
    remap's CPU more than the gains' multiply it replaces. On a frame as sharp as its
    pixel grid (the harness's 2880 px frame from the 4096 px pano, 2048 out) it cost
    0.1 dB instead; camera frames are softer than their pixels.
    ``thin_poles`` samples the rows near the poles at half or a quarter of the width where
    that still samples more finely than the circles (see :mod:`stitching.fisheye.maps`).
    """

    def __init__(
        self,
        *,
        maxsize: int = 2,
        feather_deg: float = FEATHER_DEG,
        interpolation: int = cv2.INTER_LINEAR,
        sharpen: float = SHARPEN,
        thin_poles: bool = True,
    ) -> None:
        self.maxsize = maxsize
        self.feather_deg = feather_deg
        self.interpolation = interpolation
        self.sharpen = sharpen
        self.thin_poles = thin_poles
        # (buffer, boxes it holds): outside the boxes a buffer is all zero.
        self._scratch: list[tuple[np.ndarray, tuple[Box, Box]]] = []
        self._maps: OrderedDict[tuple[Geometry, int], MergedMaps] = OrderedDict()
        self._fits: OrderedDict[Hashable, SeamFit] = OrderedDict()
        self._lock = threading.Lock()

    def clear_maps(self) -> None:
        """Drop the cached map sets (the seam fits, small, are kept)."""
        with self._lock:
            self._maps.clear()
            self._scratch.clear()

    def maps(self, geometry: Geometry, out_width: int) -> MergedMaps:
        """The merged maps for a geometry and output width (built on first use)."""
        key = (geometry, out_width)
        with self._lock:
            found = self._maps.get(key)
            if found is not None:
                self._maps.move_to_end(key)
                return found
        feather = math.radians(self.feather_deg)
        built = build_maps(geometry, out_width, feather, thin_poles=self.thin_poles)
        with self._lock:
            self._maps[key] = built
            while len(self._maps) > self.maxsize:
                self._maps.popitem(last=False)
        return built

    def render(
        self,
        img: np.ndarray,
        geometry: Geometry,
        out_width: int,
        *,
        gains: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Render a uint8 BGR frame to a uint8 (out_width // 2, out_width, 3) equirect.

        ``gains`` are per-lens, per-channel (B, G, R) linear-light factors (see
        :func:`exposure_gains`).
        """
        maps = self.maps(geometry, out_width)
        if not self._sharpens(geometry, out_width):
            return self._remap(compensate(img, maps.split, gains, maps.vignetting), maps, out_width)
        boxes = _lens_boxes(geometry, maps.split)
        scratch = self._take_scratch(img, boxes)
        try:
            flat = img
            factors = None if gains is None else (gamma_gain(gains[0]), gamma_gain(gains[1]))
            if maps.vignetting is not None:
                flat, factors = compensate(img, maps.split, gains, maps.vignetting), None
            src = sharpen_lenses(flat, boxes, factors, k=self.sharpen, out=scratch)
            return self._remap(src, maps, out_width)
        finally:
            with self._lock:
                if len(self._scratch) < _MAX_SCRATCH:
                    self._scratch.append((scratch, boxes))

    def _sharpens(self, geometry: Geometry, out_width: int) -> bool:
        if self.interpolation != cv2.INTER_LINEAR or self.sharpen <= 0:
            return False
        return out_width / (2.0 * math.pi) >= _SHARPEN_SCALE * centre_scale(geometry)

    def _take_scratch(self, img: np.ndarray, boxes: tuple[Box, Box]) -> np.ndarray:
        """A kept buffer of the frame's shape, zero outside ``boxes``, or a new one."""
        with self._lock:
            for i, (buf, held) in enumerate(self._scratch):
                if buf.shape == img.shape:
                    del self._scratch[i]
                    if held != boxes:
                        buf.fill(0)
                    return buf
        return np.zeros_like(img)

    def _remap(self, src: np.ndarray, maps: MergedMaps, out_width: int) -> np.ndarray:
        """Each zone: one remap per rectangle outside the seam band, both lenses across it,
        blended; a thinned zone is widened to the output's width afterwards."""
        out = np.empty((out_width // 2, out_width, 3), dtype=np.uint8)
        for zone in maps.zones:
            rows = zone.rows.stop - zone.rows.start
            full = zone.width == out_width
            dst = out[zone.rows] if full else np.empty((rows, zone.width, 3), np.uint8)
            self._remap_zone(src, zone, dst)
            if not full:
                # Replicated at the row ends rather than wrapped: even thinned, these rows
                # sample more finely than the circles, so neighbouring samples differ little.
                cv2.resize(
                    dst, (out_width, rows), dst=out[zone.rows], interpolation=cv2.INTER_LINEAR
                )
        return out

    def _remap_zone(self, src: np.ndarray, zone: Zone, out: np.ndarray) -> None:
        flags, border = self.interpolation, cv2.BORDER_CONSTANT
        map1, map2 = zone.primary
        for rows, cols in zone.plain:
            view = out[rows, cols]
            cv2.remap(src, map1[rows, cols], map2[rows, cols], flags, dst=view, borderMode=border)
        for f in zone.feathers:
            view = out[f.rows, f.cols]
            cv2.remap(
                src, map1[f.rows, f.cols], map2[f.rows, f.cols], flags, dst=view, borderMode=border
            )
            other = cv2.remap(src, *f.maps, flags, borderMode=border)
            cv2.blendLinear(view, other, f.weight, f.rest, dst=view)

    def fit_seam(self, img: np.ndarray, geometry: Geometry, *, camera: Hashable) -> SeamFit:
        """Seam refinement for a camera, kept for its later frames.

        The first frame of ``camera`` (any key naming one camera and frame size, e.g. its
        lens profile and the size) is refined from ``geometry`` (see :func:`refine_seam`).
        Later frames only measure the seam with the kept geometry, and are refined afresh
        when the shift exceeds both 1 px and 1.5 times what the fit left on its own frame
        (another unit of the same model, a knock); whichever of the kept and the new fit
        does better on that frame is kept. A frame with too little texture to measure
        keeps the fit.
        """
        with self._lock:
            kept = self._fits.get(camera)
        if kept is not None:
            now = measure_seam(img, kept.geometry)
            shift = now.median_shift()
            reuse = replace(kept, shift_after_px=shift, tiles=len(now.shifts), reused=True)
            if not shift > max(_RECHECK_PX, _RECHECK_FACTOR * kept.shift_after_px):
                return reuse
        fit = refine_seam(img, geometry)
        if kept is not None and not fit.shift_after_px < reuse.shift_after_px:
            fit = reuse
        with self._lock:
            self._fits[camera] = fit
            self._fits.move_to_end(camera)
            while len(self._fits) > _MAX_FITS:
                self._fits.popitem(last=False)
        return fit


def _lens_boxes(geometry: Geometry, split: int) -> tuple[Box, Box]:
    """(rows, cols) of each lens's circle with a margin, within its side of ``split``:
    all of the frame the remap samples (pixels no lens sees come out black)."""
    w, h = geometry.size
    boxes = []
    for geo, side in ((geometry.lenses[0], (split, w)), (geometry.lenses[1], (0, split))):
        (cx, cy), pad = geo.centre, geo.radius * (1.0 + _BOX_PAD) + _BOX_PAD_PX
        rows = slice(max(0, int(cy - pad)), min(h, int(math.ceil(cy + pad))))
        cols = slice(max(side[0], int(cx - pad)), min(side[1], int(math.ceil(cx + pad))))
        boxes.append((rows, cols))
    return boxes[0], boxes[1]
