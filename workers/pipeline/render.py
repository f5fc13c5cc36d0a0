"""Turn one decoded equirect into the tiles and previews of a scene version in a store.

This is the heavy half of the pipeline, kept free of Redis and the ledger so the benchmark
can time it alone: project the six cube faces (levelling folded into the remap), cut every
level into tiles and write them with bounded concurrency (the tiles stage), then the
previews (the previews stage). ``scene.json`` is written after both by the publish stage,
so its presence means the version is complete.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from stitching.equirect import rotate_equirect
from tiling.cube import FACES, CubeProjector
from tiling.encode import cube_strip, encode_jpeg, thumbnail
from tiling.luma import METHOD
from tiling.pyramid import TileLayout, cut_tiles, face_levels
from workers.contract.keys import SceneKeys
from workers.contract.scene import ImageRef, TileLevel, TileSet
from workers.store.base import ObjectStore

THUMB_WIDTH = 512
PREVIEW_FACE = 256
#: Uploads in flight per upload thread; bounds memory (encoded tiles wait here) and load.
IN_FLIGHT_PER_THREAD = 2


@dataclass(slots=True)
class RenderedTiles:
    """The tile set written for one scene version."""

    tileset: TileSet
    #: Each face at the one-tile level (z=1), from which the preview strip is cut.
    smallest: dict[str, np.ndarray]
    written: int = 0
    nbytes: int = 0


@dataclass(slots=True)
class RenderedPreviews:
    """The preview strip, thumbnail and equirect master written for one scene version."""

    preview: ImageRef
    thumb: ImageRef
    equirect: ImageRef
    written: int = 0
    nbytes: int = 0


@dataclass(slots=True)
class _Uploader:
    store: ObjectStore
    pool: ThreadPoolExecutor
    limit: int
    pending: list[Future[int]] = field(default_factory=list)
    count: int = 0
    nbytes: int = 0

    def submit(self, key: str, img: np.ndarray, quality: int) -> None:
        if len(self.pending) >= self.limit:
            self._drain(self.limit // 2)
        self.pending.append(self.pool.submit(self._encode_put, key, img, quality))

    def _encode_put(self, key: str, img: np.ndarray, quality: int) -> int:
        data = encode_jpeg(img, quality)
        self.store.put(key, data, content_type="image/jpeg")
        return len(data)

    def _drain(self, keep: int = 0) -> None:
        while len(self.pending) > keep:
            self.nbytes += self.pending.pop(0).result()  # re-raises a failed upload
            self.count += 1

    def finish(self) -> None:
        self._drain()


@contextmanager
def _uploads(store: ObjectStore, threads: int) -> Iterator[_Uploader]:
    with ThreadPoolExecutor(threads, thread_name_prefix="upload") as pool:
        yield _Uploader(store, pool, limit=max(4, IN_FLIGHT_PER_THREAD * threads))


def render_tiles(
    equirect: np.ndarray,
    *,
    store: ObjectStore,
    keys: SceneKeys,
    layout: TileLayout,
    projector: CubeProjector,
    rotation: np.ndarray | None,
    quality: int,
    threads: int = 2,
) -> RenderedTiles:
    """Project the six cube faces, cut every level into tiles and write them.

    The top level is :meth:`tiling.cube.CubeProjector.publish_face` (Lanczos-quality luma,
    :mod:`tiling.luma`); each lower level halves the one above by area averaging.

    Parameters
    ----------
    equirect:
        uint8 (H, W, 3) BGR full-sphere equirect, W = 2H.
    rotation:
        3x3 matrix taking a levelled direction to the source image's (None = level already).

    Raises
    ------
    config.errors.StoreError
        A write failed; nothing is published (no scene.json yet), so a retry is safe.
    """
    smallest: dict[str, np.ndarray] = {}
    with _uploads(store, threads) as uploader:
        # One face at a time (the projector holds one face group's maps): a face and its
        # levels are dropped once their tiles are encoded.
        faces = projector.publish_faces(equirect, layout.face_size, rotation=rotation)
        for face, face_img in faces:
            for level, img in face_levels(face_img, layout):
                for y, x, tile in cut_tiles(img, layout.tile_size):
                    uploader.submit(keys.tile(level.z, face, y, x), tile, quality)
                if level.z == 1:
                    smallest[face] = img.copy()  # not a view keeping a larger level alive
            del face_img, img, tile
            uploader.finish()  # this face's levels go before the next face is rendered
    levels = [TileLevel(z=lv.z, size=lv.size, tiles=lv.tiles) for lv in layout.levels]
    tileset = TileSet(
        tile_size=layout.tile_size,
        face_size=layout.face_size,
        faces=list(FACES),
        levels=levels,
        count=6 * sum(lv.tiles**2 for lv in levels),
        quality=quality,
        resampling=METHOD,
    )
    return RenderedTiles(tileset, smallest, written=uploader.count, nbytes=uploader.nbytes)


def render_previews(
    equirect: np.ndarray,
    smallest: dict[str, np.ndarray],
    *,
    store: ObjectStore,
    keys: SceneKeys,
    rotation: np.ndarray | None,
    quality: int,
    equirect_max_width: int,
    threads: int = 2,
) -> RenderedPreviews:
    """Write the equirect master (levelled, capped in width), its thumbnail and the strip.

    ``smallest`` is :attr:`RenderedTiles.smallest`, the faces the strip is made of. Raises
    :class:`config.errors.StoreError` as :func:`render_tiles` does.
    """
    master = _master(equirect, rotation, equirect_max_width)
    thumb = thumbnail(master, THUMB_WIDTH)
    strip = cube_strip(smallest, PREVIEW_FACE)
    with _uploads(store, threads) as uploader:
        for key, img in ((keys.equirect, master), (keys.thumb, thumb), (keys.preview, strip)):
            uploader.submit(key, img, quality)
        uploader.finish()
    return RenderedPreviews(
        preview=_ref(keys.preview, strip),
        thumb=_ref(keys.thumb, thumb),
        equirect=_ref(keys.equirect, master),
        written=uploader.count,
        nbytes=uploader.nbytes,
    )


def render_scene(
    equirect: np.ndarray,
    *,
    store: ObjectStore,
    keys: SceneKeys,
    layout: TileLayout,
    projector: CubeProjector,
    rotation: np.ndarray | None,
    quality: int,
    equirect_max_width: int,
    threads: int = 2,
) -> tuple[RenderedTiles, RenderedPreviews]:
    """Every tile and preview of a scene version (the pipeline runs the two as stages)."""
    tiles = render_tiles(
        equirect, store=store, keys=keys, layout=layout, projector=projector,
        rotation=rotation, quality=quality, threads=threads,
    )  # fmt: skip
    previews = render_previews(
        equirect, tiles.smallest, store=store, keys=keys, rotation=rotation, quality=quality,
        equirect_max_width=equirect_max_width, threads=threads,
    )  # fmt: skip
    return tiles, previews


def _master(equirect: np.ndarray, rotation: np.ndarray | None, max_width: int) -> np.ndarray:
    """The published equirect: levelled, and no wider than ``max_width``."""
    width = equirect.shape[1]
    out_width = min(width, max_width)
    if rotation is None:
        if out_width == width:
            return equirect
        return thumbnail(equirect, out_width)
    return rotate_equirect(equirect, rotation, out_width=out_width)


def _ref(key: str, img: np.ndarray) -> ImageRef:
    return ImageRef(key=key, width=int(img.shape[1]), height=int(img.shape[0]))


def iter_tile_keys(keys: SceneKeys, tiles: TileSet) -> Iterator[tuple[str, int]]:
    """Every tile key a manifest promises, with the tile's side in px."""
    for level in tiles.levels:
        for face in tiles.faces:
            for y in range(level.tiles):
                for x in range(level.tiles):
                    yield keys.tile(level.z, face, y, x), tiles.tile_size
