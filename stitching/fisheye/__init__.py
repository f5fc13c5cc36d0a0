"""Dual-fisheye frame -> full-sphere equirect in one merged remap.

Every output pixel is sampled from the lens that sees it best, in one ``cv2.remap`` over
the whole frame, with a feathered band across the seam (:mod:`stitching.fisheye.maps`).
Before rendering, the residual misalignment measured along the seam is folded into the
geometry (:mod:`stitching.fisheye.seam`) and per-channel gains make the two lenses'
exposure agree (:mod:`stitching.fisheye.exposure`). :class:`DualFisheyeRemapper`
(:mod:`stitching.fisheye.remapper`) caches the maps per geometry and output width and the
seam fit per camera, so a camera's later frames cost one remap each.
:mod:`stitching.fisheye.geometry` places a lens profile in a concrete frame.

The whole stitch of a frame (profile choice, circles, fit, gains, render) is
:func:`stitching.dual_fisheye.stitch_dual_fisheye`.
"""

from stitching.fisheye.exposure import exposure_gains
from stitching.fisheye.geometry import Geometry, LensGeometry, geometry_for, lens_coords
from stitching.fisheye.remapper import FEATHER_DEG, INTERPOLATIONS, DualFisheyeRemapper
from stitching.fisheye.seam import SeamFit, measure_seam, refine_seam, seam_strips

__all__ = [
    "FEATHER_DEG",
    "INTERPOLATIONS",
    "DualFisheyeRemapper",
    "Geometry",
    "LensGeometry",
    "SeamFit",
    "exposure_gains",
    "geometry_for",
    "lens_coords",
    "measure_seam",
    "refine_seam",
    "seam_strips",
]
