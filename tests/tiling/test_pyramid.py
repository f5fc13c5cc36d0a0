"""Tile layout, level halving, tile cutting, and the JPEG / preview helpers."""

import cv2
import numpy as np
import pytest

from tiling.encode import STRIP_ORDER, cube_strip, encode_jpeg, thumbnail
from tiling.pyramid import TileLayout, choose_layout, cut_tiles, face_levels


@pytest.mark.parametrize(
    ("width", "face", "tile"), [(8192, 2560, 640), (5760, 2048, 512), (4096, 1280, 640)]
)
def test_choose_layout_examples(width, face, tile):
    assert choose_layout(width) == TileLayout(tile_size=tile, face_size=face)


@pytest.mark.parametrize("width", [100, 1000, 3000, 4096, 7680, 11008, 16384])
@pytest.mark.parametrize("tile", [None, 256, 512, 640, 1024])
def test_layout_is_nearest_whole_tile_pyramid(width, tile):
    layout = choose_layout(width, tile)
    ratio = layout.face_size // layout.tile_size
    assert layout.face_size == layout.tile_size * ratio and ratio & (ratio - 1) == 0
    if tile is not None:
        assert layout.tile_size == tile
    ideal = width / np.pi
    for other in (layout.face_size // 2, layout.face_size * 2):
        if other >= layout.tile_size:
            assert abs(layout.face_size - ideal) <= abs(other - ideal)


def test_levels_double_from_one_tile():
    layout = TileLayout(tile_size=640, face_size=2560)
    assert layout.max_level == 3
    assert [lv.z for lv in layout.levels] == [1, 2, 3]
    for lv in layout.levels:
        assert lv.size == 640 * 2 ** (lv.z - 1) and lv.tiles * 640 == lv.size
    assert layout.levels[-1].size == layout.face_size


@pytest.mark.parametrize(("tile", "face"), [(512, 1536), (640, 600), (0, 0), (512, 0)])
def test_layout_rejects_partial_tiles(tile, face):
    with pytest.raises(ValueError):
        TileLayout(tile_size=tile, face_size=face)


def test_face_levels_halve_by_averaging():
    rng = np.random.default_rng(3)
    face = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    layout = TileLayout(tile_size=64, face_size=256)
    levels = list(face_levels(face, layout))
    assert [lv.z for lv, _ in levels] == [3, 2, 1]
    assert levels[0][1] is face
    for (_, big), (lv, small) in zip(levels, levels[1:], strict=False):
        assert small.shape == (lv.size, lv.size, 3)
        mean = big.reshape(lv.size, 2, lv.size, 2, 3).astype(float).mean(axis=(1, 3))
        assert np.abs(small - mean).max() <= 1
    with pytest.raises(ValueError):
        next(face_levels(face[:128], layout))


def test_cut_tiles_yields_views_in_row_order():
    img = np.arange(96 * 64 * 3, dtype=np.int32).reshape(96, 64, 3)
    tiles = list(cut_tiles(img, 32))
    assert [(y, x) for y, x, _ in tiles] == [(y, x) for y in range(3) for x in range(2)]
    for y, x, tile in tiles:
        assert tile.shape == (32, 32, 3) and np.shares_memory(tile, img)
        assert tile[0, 0, 0] == img[32 * y, 32 * x, 0]
    with pytest.raises(ValueError, match="whole number"):
        list(cut_tiles(img, 40))


def test_tile_counts_over_a_layout():
    layout = TileLayout(tile_size=16, face_size=64)
    face = np.zeros((64, 64, 3), np.uint8)
    counts = {lv.z: len(list(cut_tiles(img, 16))) for lv, img in face_levels(face, layout)}
    assert counts == {lv.z: lv.tiles**2 for lv in layout.levels} == {1: 1, 2: 4, 3: 16}


def test_encode_jpeg_is_baseline_and_decodes(pano):
    tile = pano[512:1024, 1024:1536]  # a strided view, as cut_tiles gives
    data = encode_jpeg(tile, 85)
    assert data[:2] == b"\xff\xd8" and b"\xff\xc2" not in data
    sof = data.index(b"\xff\xc0")
    assert data[sof + 9] == 3 and data[sof + 11] == 0x22  # three components, luma 2x2 (4:2:0)
    back = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    mse = np.mean((back.astype(float) - tile) ** 2)
    assert back.shape == tile.shape and 10 * np.log10(255**2 / mse) > 32
    assert len(encode_jpeg(tile, 40)) < len(data)


@pytest.mark.parametrize("quality", [0, 101])
def test_encode_jpeg_rejects_bad_quality(quality):
    with pytest.raises(ValueError):
        encode_jpeg(np.zeros((8, 8, 3), np.uint8), quality)


def test_encode_jpeg_rejects_float_images():
    with pytest.raises(ValueError):
        encode_jpeg(np.zeros((8, 8, 3), np.float32), 80)


def test_thumbnail_keeps_aspect_and_never_enlarges(pano):
    thumb = thumbnail(pano, 512)
    assert thumb.shape == (256, 512, 3)
    assert abs(float(thumb.mean()) - float(pano.mean())) < 1
    assert thumbnail(thumb, 1024) is thumb


def test_cube_strip_order_and_size():
    faces = {f: np.full((64, 64, 3), 40 * i, np.uint8) for i, f in enumerate("fbudlr")}
    strip = cube_strip(faces, 16)
    assert strip.shape == (96, 16, 3)
    for k, face in enumerate(STRIP_ORDER):
        assert np.all(strip[16 * k : 16 * (k + 1)] == faces[face][0, 0])
    assert STRIP_ORDER == ("b", "d", "f", "l", "r", "u")
    with pytest.raises(ValueError, match="missing"):
        cube_strip({f: faces[f] for f in "fbud"}, 16)
