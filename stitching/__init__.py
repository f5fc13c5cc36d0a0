"""From a capture's pixels to one levelled full-sphere equirect: pure array code, no I/O.

Nothing here opens a file, reads settings or the environment, or imports ``ingest``,
``workers`` or ``tiling``: callers hand in arrays, lens-profile text and model bytes.

- :mod:`stitching.sphere`: the sphere maths everything else (and ``tiling``) shares:
  equirect pixel <-> direction, rotations (GPano pose levelling), cube face orientation,
  wrapped remapping.
- :mod:`stitching.kinds`: the capture-kind decision (equirect, dual fisheye, multi-shot).
- :mod:`stitching.frames`: what the stitchers take (:class:`~stitching.frames.Frame`) and
  give (:class:`~stitching.frames.StitchResult`).
- Dual fisheye: :mod:`stitching.dual_fisheye` (the stitch of one frame) on
  :mod:`stitching.fisheye` (geometry, merged maps, seam fit, exposure),
  :mod:`stitching.lens` (lens profiles) and :mod:`stitching.circles` (circle detection).
- Multi-shot: :mod:`stitching.multishot` (matching, placement, warping, blending) and
  :mod:`stitching.bundle` (bundle adjustment with one focal length).
- :mod:`stitching.flow`: local misalignment of two renderings (the seam fit's measure).
- :mod:`stitching.equirect`: levelling a whole equirect, placing a partial panorama.
- :mod:`stitching.privacy`: face detection on views of the sphere and blurring.
"""

from stitching.equirect import CroppedArea, place_cropped, rotate_equirect, validate_area
from stitching.sphere import pose_rotation

__all__ = ["CroppedArea", "place_cropped", "pose_rotation", "rotate_equirect", "validate_area"]
