"""The cube tile pyramid: face size and levels, halving a face, cutting tiles.

Face size is always tile x 2^k, so every level is whole tiles: Pannellum, Marzipano and
Photo Sphere Viewer all read one tile set (partial edge tiles break the latter two).
Level z = 1 is the one-tile level; z = max_level is the full face.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

#: Tile sizes tried when none is given; the one whose tile x 2^k is nearest the ideal face wins.
DEFAULT_TILE_SIZES = (512, 640)


@dataclass(frozen=True, slots=True)
class Level:
    """One pyramid level: ``z`` (1 = one tile), face side ``size`` px, ``tiles`` per side."""

    z: int
    size: int
    tiles: int


@dataclass(frozen=True, slots=True)
class TileLayout:
    """Tile and face size of a scene's cube pyramid; ``face_size`` = ``tile_size`` x 2^k."""

    tile_size: int
    face_size: int

    def __post_init__(self) -> None:
        ratio = self.face_size // self.tile_size if self.tile_size > 0 else 0
        if (
            self.tile_size < 1
            or ratio < 1
            or ratio * self.tile_size != self.face_size
            or ratio & (ratio - 1)
        ):
            raise ValueError(
                f"face size {self.face_size} is not tile size {self.tile_size} times a power "
                "of two; every level must be whole tiles"
            )

    @property
    def max_level(self) -> int:
        """The z of the full-size face."""
        return (self.face_size // self.tile_size).bit_length()

    @property
    def levels(self) -> list[Level]:
        """Every level, z = 1 (one tile, smallest) first."""
        return [
            Level(z=z, size=self.tile_size << (z - 1), tiles=1 << (z - 1))
            for z in range(1, self.max_level + 1)
        ]


def choose_layout(equirect_width: int, tile_size: int | None = None) -> TileLayout:
    """Pick the face size tile x 2^k nearest the equirect's resolution (width / pi).

    Parameters
    ----------
    equirect_width:
        Width of the full-sphere equirect in px.
    tile_size:
        Tile side in px; None tries :data:`DEFAULT_TILE_SIZES` and keeps the nearest face.

    Returns
    -------
    TileLayout
        Never smaller than one tile. Examples: 8192 -> 2560 / 640, 5760 -> 2048 / 512,
        4096 -> 1280 / 640.

    Raises
    ------
    ValueError
        A width or tile size below 1.
    """
    if equirect_width < 1:
        raise ValueError(f"equirect width must be at least 1 px, got {equirect_width}")
    tiles = DEFAULT_TILE_SIZES if tile_size is None else (tile_size,)
    if min(tiles) < 1:
        raise ValueError(f"tile size must be at least 1 px, got {tile_size}")
    ideal = equirect_width / math.pi
    candidates = []
    for tile in tiles:
        k = max(0, math.floor(math.log2(ideal / tile)))
        for face in (tile << k, tile << (k + 1)):
            # Ties go to the bigger face (no detail lost), then the smaller tile.
            candidates.append((abs(face - ideal), -face, tile, face))
    _, _, tile, face = min(candidates)
    return TileLayout(tile_size=tile, face_size=face)


def face_levels(face_img: np.ndarray, layout: TileLayout) -> Iterator[tuple[Level, np.ndarray]]:
    """Every level of one face, full size first, each next one an INTER_AREA halving.

    Parameters
    ----------
    face_img:
        (face_size, face_size, channels) image, e.g. uint8 BGR; yielded as is at the top.

    Yields
    ------
    tuple
        ``(level, image)`` with image (level.size, level.size, channels), dtype kept.

    Raises
    ------
    ValueError
        The face is not ``layout.face_size`` square.
    """
    if face_img.shape[:2] != (layout.face_size, layout.face_size):
        raise ValueError(
            f"face is {face_img.shape[1]}x{face_img.shape[0]}, layout wants "
            f"{layout.face_size}x{layout.face_size}"
        )
    img = face_img
    for level in reversed(layout.levels):
        if img.shape[0] != level.size:
            img = cv2.resize(img, (level.size, level.size), interpolation=cv2.INTER_AREA)
        yield level, img


def cut_tiles(img: np.ndarray, tile_size: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """Cut an image into square tiles, row by row.

    Yields
    ------
    tuple
        ``(y, x, tile)``: tile row and column, and a (tile_size, tile_size, ...) view
        into ``img`` (no copy).

    Raises
    ------
    ValueError
        tile_size < 1, or the image is not a whole number of tiles in both directions.
    """
    height, width = img.shape[:2]
    if tile_size < 1 or height % tile_size or width % tile_size:
        raise ValueError(f"a {width}x{height} image is not a whole number of {tile_size} px tiles")
    for y in range(height // tile_size):
        for x in range(width // tile_size):
            top, left = y * tile_size, x * tile_size
            yield y, x, img[top : top + tile_size, left : left + tile_size]
