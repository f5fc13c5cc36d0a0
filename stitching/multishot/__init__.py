"""Multi-shot sets from a rotating head -> a full 360x180 equirect (OpenCV cv2.detail).

The steps follow OpenCV's detailed stitching pipeline: SIFT features on a ~1.3 MP copy,
pairwise matching of every pair, the largest connected set of frames (every other frame
is reported by name, never dropped silently, or placed from the head's programme when
that is known), rotations from homographies (or seeded from the programme), ray bundle
adjustment refined with one shared focal length (:mod:`stitching.bundle`), horizontal
wave correction, exposure gains solved from the overlaps, graph-cut seams on a ~0.1 MP
copy, and multi-band blending band by band of canvas rows (so a 20 MP set never holds a
whole warped frame or a whole-canvas pyramid), across the +-180 deg wrap as well, in
pyramid and scratch buffers kept from band to band (:mod:`~stitching.multishot.scratch`).

Warping is done here rather than with cv2's spherical warper, which cannot wrap: every
frame is resampled (bicubic) straight into the equirect canvas through its camera, and a
frame that straddles yaw +-180 deg is fed to the blender as two pieces, one at each end.
The first frame looks at yaw 0.

Modules: :mod:`~stitching.multishot.stitch` (the steps in order, :func:`stitch_frames`),
:mod:`~stitching.multishot.matching` (pairs and rotations from matches),
:mod:`~stitching.multishot.rig` (placement from the head's programme, levelling),
:mod:`~stitching.multishot.warp` (frames into the canvas),
:mod:`~stitching.multishot.compose` (gains, seams),
:mod:`~stitching.multishot.blend` (multi-band blending, band by band) and
:mod:`~stitching.multishot.scratch` (buffers that outlive a band).
"""

from stitching.multishot.stitch import stitch_frames

__all__ = ["stitch_frames"]
