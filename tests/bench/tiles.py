"""Cube faces against their JPEG ceiling, per face, with CPU: ``python -m tests.bench tiles``.

    /tmp/venv0/bin/python -m tests.bench tiles [--repeat 7] [--quality 85] [--large]

Run from the repository root; not collected by pytest. For each panorama and each cube
face at the scene layout (:func:`tiling.pyramid.choose_layout`):

- the reference: an independent Lanczos-4 projection (:mod:`tests.tiling.reference`);
- the ceiling: the reference's own PSNR after JPEG at the scenes' quality, cut into tiles
  as published;
- each candidate resampling, published the same way and scored against the reference:
  PSNR, gap = ceiling - PSNR, and CPU ms per face (``time.process_time`` around the
  resampling alone, maps cached as in a warm worker, median of ``--repeat`` runs; cv2's
  own threads are included, so this is CPU, not wall time).

Panoramas: the sample the tests use (tests/data/pannellum_examplepano.jpg, 4096x2048),
and a second real one the tests do not use for tiling: the Samsung Gear 360 frame
stitched to a 2560x1280 equirect, read from ../shared/data/dualfisheye (the original PNG)
when that folder exists, else from the JPEG copy in tests/data/stitching (the line printed
says which). ``--large`` adds the sample upscaled to 8192x4096 (2560 px faces).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from stitching.fisheye import DualFisheyeRemapper
from tests.support.data import stitch_builtin
from tests.tiling.reference import jpeg_tiles, lanczos_face, psnr
from tiling.cube import FACES, CubeProjector
from tiling.encode import encode_jpeg
from tiling.luma import METHOD
from tiling.pyramid import TileLayout, choose_layout, cut_tiles, face_levels

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "data" / "pannellum_examplepano.jpg"
SHARED_GEAR = ROOT.parent / "shared" / "data" / "dualfisheye" / "gear360_extract_cynricfu.png"
LOCAL_GEAR = ROOT / "tests" / "data" / "stitching" / "gear360_extract_cynricfu.jpg"

Render = Callable[[np.ndarray, str, int], np.ndarray]


def candidates(projector: CubeProjector) -> dict[str, Render]:
    """The resamplings measured, the published one last."""

    def remap(flag: int) -> Render:
        return lambda img, face, size: projector.project_face(img, face, size, interpolation=flag)

    return {
        "bilinear (before)": remap(cv2.INTER_LINEAR),
        "bicubic": remap(cv2.INTER_CUBIC),
        "lanczos4": remap(cv2.INTER_LANCZOS4),
        f"published: {METHOD}": projector.publish_face,
    }


@dataclass(frozen=True, slots=True)
class FaceRow:
    pano: str
    face: str
    method: str
    psnr: float
    ceiling: float
    cpu_ms: float

    @property
    def gap(self) -> float:
        return self.ceiling - self.psnr


def cpu_ms(fn: Callable[[], object], repeat: int) -> float:
    """Median CPU time of ``fn`` in ms (all threads of this process)."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times) * 1000.0


def measure(name: str, pano: np.ndarray, quality: int, repeat: int) -> list[FaceRow]:
    layout = choose_layout(pano.shape[1])
    size, tile = layout.face_size, layout.tile_size
    projector = CubeProjector(maxsize=24)
    rows = []
    for face in FACES:
        reference = lanczos_face(pano, face, size)
        ceiling = psnr(jpeg_tiles(reference, quality, tile), reference)
        for method, render in candidates(projector).items():
            face_img = render(pano, face, size)  # also builds and caches the maps
            score = psnr(published(face_img, layout, quality), reference)
            ms = cpu_ms(lambda: render(pano, face, size), repeat)  # noqa: B023
            rows.append(FaceRow(name, face, method, score, ceiling, ms))
    return rows


def published(face_img: np.ndarray, layout: TileLayout, quality: int) -> np.ndarray:
    """The top level as a viewer decodes it: production tiles and encoder."""
    out = np.empty_like(face_img)
    t = layout.tile_size
    for y, x, tile in cut_tiles(face_img, t):
        data = np.frombuffer(encode_jpeg(tile, quality), np.uint8)
        out[y * t : (y + 1) * t, x * t : (x + 1) * t] = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return out


def tile_stage_cpu(pano: np.ndarray, quality: int, render: Render) -> float:
    """CPU s of six faces, every level and every tile's JPEG (no upload), maps warm."""
    layout = choose_layout(pano.shape[1])

    def run() -> None:
        for face in FACES:
            for _level, img in face_levels(render(pano, face, layout.face_size), layout):
                for _y, _x, tile in cut_tiles(img, layout.tile_size):
                    encode_jpeg(tile, quality)

    run()
    return cpu_ms(run, 3) / 1000.0


def second_pano() -> tuple[str, np.ndarray]:
    source = SHARED_GEAR if SHARED_GEAR.is_file() else LOCAL_GEAR
    frame = cv2.imread(str(source), cv2.IMREAD_COLOR)
    if frame is None:
        raise SystemExit(f"cannot read {source}")
    result = stitch_builtin(frame, make="SAMSUNG", model="SM-C200", remapper=DualFisheyeRemapper())
    where = "../shared/data (present)" if source == SHARED_GEAR else "tests/data (no ../shared)"
    print(f"second panorama: Gear 360 frame {source.name} from {where}, stitched to "
          f"{result.equirect.shape[1]}x{result.equirect.shape[0]}")  # fmt: skip
    return "gear360", result.equirect


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per face (median)")
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality (the default)")
    parser.add_argument("--large", action="store_true", help="add the sample upscaled to 8K")
    args = parser.parse_args()
    sample = cv2.imread(str(SAMPLE), cv2.IMREAD_COLOR)
    if sample is None:
        raise SystemExit(f"cannot read {SAMPLE}")
    panos = [("sample", sample), second_pano()]
    if args.large:
        panos.append(("sample 8K", cv2.resize(sample, (8192, 4096), interpolation=cv2.INTER_CUBIC)))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
          f"cv2 threads {cv2.getNumThreads()}, JPEG quality {args.quality}\n")  # fmt: skip
    rows: list[FaceRow] = []
    for name, pano in panos:
        rows += measure(name, pano, args.quality, args.repeat)
    print_faces(rows, panos)
    print_summary(rows)
    print("\n| panorama | tile stage CPU s (6 faces, all levels, JPEG), bilinear -> published |")
    print("|---|---|")
    projector = CubeProjector(maxsize=24)
    render = candidates(projector)
    for name, pano in panos:
        before = tile_stage_cpu(pano, args.quality, render["bilinear (before)"])
        after = tile_stage_cpu(pano, args.quality, projector.publish_face)
        print(f"| {name} {pano.shape[1]}x{pano.shape[0]} | {before:.2f} -> {after:.2f} |")
    print(f"\nload average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


def print_faces(rows: list[FaceRow], panos: list[tuple[str, np.ndarray]]) -> None:
    """Per face: the published method beside the bilinear one it replaces."""
    print("| panorama | face | ceiling dB | published PSNR | gap | CPU ms "
          "| bilinear PSNR | gap | CPU ms |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for name, pano in panos:
        size = choose_layout(pano.shape[1]).face_size
        for face in FACES:
            by = {r.method: r for r in rows if r.pano == name and r.face == face}
            new = by[f"published: {METHOD}"]
            old = by["bilinear (before)"]
            print(f"| {name} {pano.shape[1]}x{pano.shape[0]} -> {size} | {face} "
                  f"| {new.ceiling:.2f} | {new.psnr:.2f} | {new.gap:.2f} | {new.cpu_ms:.1f} "
                  f"| {old.psnr:.2f} | {old.gap:.2f} | {old.cpu_ms:.1f} |")  # fmt: skip


def print_summary(rows: list[FaceRow]) -> None:
    """Per panorama and method: the worst and best gap, and CPU per face."""
    print("\n| panorama | method | gap dB (worst face) | gap dB (best) | CPU ms per face, median "
          "(range) |")  # fmt: skip
    print("|---|---|---|---|---|")
    keys = dict.fromkeys((r.pano, r.method) for r in rows)
    for pano, method in keys:
        mine = [r for r in rows if r.pano == pano and r.method == method]
        cpu = [r.cpu_ms for r in mine]
        print(f"| {pano} | {method} | {max(r.gap for r in mine):.2f} "
              f"| {min(r.gap for r in mine):.2f} | {statistics.median(cpu):.1f} "
              f"({min(cpu):.0f}-{max(cpu):.0f}) |")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
