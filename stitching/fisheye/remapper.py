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

from stitching.fisheye.exposure import compensate
from stitching.fisheye.geometry import Geometry
from stitching.fisheye.maps import MergedMaps, build_maps
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


class DualFisheyeRemapper:
    """Builds and caches merged remap maps and per-camera seam fits; renders frames.

    Safe to share between threads; keeps the last ``maxsize`` map sets (a 5760 x 2880
    output costs about 100 MB of maps). ``feather_deg`` is the full width, in degrees of
    arc across the seam, over which the two lenses are blended (at most the overlap).
    ``interpolation`` is cv2.INTER_LINEAR or cv2.INTER_CUBIC: sharper (+2.2 dB on the
    5760 px harness frame rendered at 4096) when the output is about as fine as the
    circles or finer, worse when much coarser (it aliases), and twice the time.
    """

    def __init__(
        self,
        *,
        maxsize: int = 2,
        feather_deg: float = FEATHER_DEG,
        interpolation: int = cv2.INTER_LINEAR,
    ) -> None:
        self.maxsize = maxsize
        self.feather_deg = feather_deg
        self.interpolation = interpolation
        self._maps: OrderedDict[tuple[Geometry, int], MergedMaps] = OrderedDict()
        self._fits: OrderedDict[Hashable, SeamFit] = OrderedDict()
        self._lock = threading.Lock()

    def clear_maps(self) -> None:
        """Drop the cached map sets (the seam fits, small, are kept)."""
        with self._lock:
            self._maps.clear()

    def maps(self, geometry: Geometry, out_width: int) -> MergedMaps:
        """The merged maps for a geometry and output width (built on first use)."""
        key = (geometry, out_width)
        with self._lock:
            found = self._maps.get(key)
            if found is not None:
                self._maps.move_to_end(key)
                return found
        built = build_maps(geometry, out_width, math.radians(self.feather_deg))
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
        src = compensate(img, maps.split, gains, maps.vignetting)
        flags, border = self.interpolation, cv2.BORDER_CONSTANT
        out = cv2.remap(src, *maps.primary, flags, borderMode=border)
        for f in maps.feathers:
            other = cv2.remap(src, *f.maps, flags, borderMode=border)
            view = out[f.rows, f.cols]
            cv2.blendLinear(view, other, f.weight, f.rest, dst=view)
        return out

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
