"""What is published from a stitched equirect, as arrays and bytes: pure code, no I/O.

- :mod:`tiling.cube`: equirect -> the six cube faces, remap maps cached per size, face and
  rotation (the faces, their orientation and the sphere maths are
  :mod:`stitching.sphere`'s, which this package imports; stitching never imports tiling).
- :mod:`tiling.luma`: how a published face is sampled: Lanczos-quality luma from a 2x
  half-phase upsampling of its source window, chroma bilinear at half size (within ~0.2 dB
  of the JPEG ceiling for about a bicubic remap's CPU).
- :mod:`tiling.mirror`: the published faces' compact maps: half a face rendered twice
  (mirrored), r, b, l from f and d from u (66 MB kept for an 8K scene instead of 141).
- :mod:`tiling.pyramid`: the face size, the levels of the tile pyramid, cutting tiles.
- :mod:`tiling.encode`: in-memory JPEG encoding, the thumbnail and the cube preview strip.

The pipeline in ``workers/`` encodes with these and uploads what they return.
"""

from tiling.cube import FACES, CubeProjector
from tiling.encode import STRIP_ORDER, cube_strip, encode_jpeg, thumbnail
from tiling.pyramid import Level, TileLayout, choose_layout, cut_tiles, face_levels

__all__ = [
    "FACES",
    "STRIP_ORDER",
    "CubeProjector",
    "Level",
    "TileLayout",
    "choose_layout",
    "cube_strip",
    "cut_tiles",
    "encode_jpeg",
    "face_levels",
    "thumbnail",
]
