"""Cube faces, the tile pyramid and JPEG encoding: pure array code, no I/O."""

from tiling.cube import FACES, CubeProjector, direction_to_face, face_directions, face_maps
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
    "direction_to_face",
    "encode_jpeg",
    "face_directions",
    "face_levels",
    "face_maps",
    "thumbnail",
]
