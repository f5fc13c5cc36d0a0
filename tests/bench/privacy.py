"""Face-blur benchmark, one markdown table: ``python -m tests.bench.privacy [scenes [view]]``.

Run from the repository root; not collected by pytest (no test_ prefix). Times
:func:`stitching.privacy.blur_faces` on an 8192x4096 scene (the sample panorama upscaled,
with faces planted) as CPU user+sys of this process, which includes OpenCV's worker threads;
then measures detection recall and false positives on ``scenes`` (default 6) 8192x4096
panoramas, each with 12 real face photographs planted at seeded random yaw/pitch (|pitch| <=
70 deg) and sizes, at the default threshold and a lower one, with cube-face views of
``view`` px (default: blur_faces' own). A face counts as found when a region's centre is
within a third of its photograph's size of the planted centre; a region near no planted
photograph is a false positive. Distances assume a face (chin to forehead) 0.18 m high.
Recall is split at 30 deg of pitch, where the views drop to half resolution: from a tripod
at eye level, a small (distant) face more than 30 deg off the horizon cannot happen, yet the
random placement plants some.
"""

from __future__ import annotations

import math
import resource
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from config.data import FACE_MODEL
from stitching.privacy import DEFAULT_VIEW_SIZE, FaceDetector, blur_faces
from tests.stitching.test_privacy import FACES_DIR, direction, plant

ROOT = Path(__file__).resolve().parents[2]
PANO = ROOT / "tests" / "data" / "pannellum_examplepano.jpg"
WIDTH = 8192
PHOTOS = ("astronaut", "cameraman", "boy_highfive", "goalie_poster")
# Photograph sides in degrees; the face is about half of it.
CROP_SIZES = (6.0, 9.0, 12.0, 18.0, 24.0)
FACES_PER_SCENE = 12
THRESHOLDS = (0.5, 0.3)
BANDS = ("|pitch| <= 30", "|pitch| > 30")


def band(pitch: float) -> str:
    return BANDS[0] if abs(pitch) <= 30.0 else BANDS[1]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"cannot read {path}")
    return img


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return math.degrees(math.acos(float(np.clip(a @ b, -1.0, 1.0))))


def scene(
    background: np.ndarray, photos: list[np.ndarray], rng: np.random.Generator
) -> tuple[np.ndarray, list[tuple[float, float, float]]]:
    """A panorama with faces at random places that do not overlap: (image, [(yaw, pitch, size)])."""
    img = background.copy()
    placed: list[tuple[float, float, float]] = []
    while len(placed) < FACES_PER_SCENE:
        size = float(rng.choice(CROP_SIZES))
        yaw = float(rng.uniform(-180.0, 180.0))
        pitch = math.degrees(math.asin(rng.uniform(-1.0, 1.0) * math.sin(math.radians(70.0))))
        here = direction(yaw, pitch)
        if all(angle_deg(here, direction(y, p)) > (size + s) * 0.75 + 2.0 for y, p, s in placed):
            plant(img, photos[len(placed) % len(photos)], yaw, pitch, size)
            placed.append((yaw, pitch, size))
    return img, placed


def main() -> None:
    n_scenes = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    view = int(sys.argv[2]) if len(sys.argv) > 2 else None
    model = FACE_MODEL.read_bytes()
    detectors = {t: FaceDetector.from_onnx(model, threshold=t) for t in THRESHOLDS}
    pano = read(PANO)
    background = cv2.resize(pano, (WIDTH, WIDTH // 2), interpolation=cv2.INTER_CUBIC)
    photos = [read(FACES_DIR / f"{name}.jpg") for name in PHOTOS]
    rng = np.random.default_rng(8)
    scenes = [scene(background, photos, rng) for _ in range(n_scenes)]

    default = detectors[THRESHOLDS[0]]
    cpu, wall = [], []
    for i in range(7):
        # Runs 0-3 return a new array; 4-6 blur in place, as the pipeline can (out=).
        target = scenes[0][0].copy() if i >= 4 else None
        c0, t0 = cpu_seconds(), time.perf_counter()
        blur_faces(scenes[0][0] if target is None else target, default, view_size=view, out=target)
        cpu.append(cpu_seconds() - c0)
        wall.append(time.perf_counter() - t0)
    clean = {
        t: len(blur_faces(background, d, view_size=view).regions) for t, d in detectors.items()
    }

    found = {t: {(s, b): 0 for s in CROP_SIZES for b in BANDS} for t in THRESHOLDS}
    false = dict.fromkeys(THRESHOLDS, 0)
    for t, detector in detectors.items():
        for img, placed in scenes:
            regions = blur_faces(img, detector, view_size=view).regions
            centres = [direction(r.yaw_deg, r.pitch_deg) for r in regions]
            for yaw, pitch, size in placed:
                here = direction(yaw, pitch)
                if any(angle_deg(c, here) < size / 3 for c in centres):
                    found[t][size, band(pitch)] += 1
            false[t] += sum(
                all(angle_deg(c, direction(y, p)) > s / 2 for y, p, s in placed) for c in centres
            )
    planted = {
        (s, b): sum(p[2] == s and band(p[1]) == b for _, ps in scenes for p in ps)
        for s in CROP_SIZES
        for b in BANDS
    }

    cols = " | ".join(f"threshold {t}" for t in THRESHOLDS)
    side = DEFAULT_VIEW_SIZE if view is None else view
    print(f"| {WIDTH}x{WIDTH // 2}, 18 views, {side} px on the horizon | {cols} |")
    print("|---|" + "---|" * len(THRESHOLDS))
    first = f"{cpu[0]:.2f} s CPU, {wall[0]:.2f} s wall"
    warm = f"{statistics.median(cpu[1:4]):.2f} s CPU, {statistics.median(wall[1:4]):.2f} s wall"
    inplace = f"{statistics.median(cpu[4:]):.2f} s CPU, {statistics.median(wall[4:]):.2f} s wall"
    same = " | ".join("same" for _ in THRESHOLDS[1:])
    print(f"| blur stage, first call (builds view maps) | {first} | {same} |")
    print(f"| blur stage, median of 3 more (target <= 2 s CPU) | {warm} | {same} |")
    print(f"| blur stage in place (out=equirect), median of 3 | {inplace} | {same} |")
    for key in planted:
        size, where = key
        metres = 0.18 / (2 * math.tan(math.radians(size / 4)))
        cells = " | ".join(
            f"{found[t][key]}/{planted[key]} ({found[t][key] / max(planted[key], 1):.0%})"
            for t in THRESHOLDS
        )
        print(f"| recall, faces ~{size / 2:g} deg (~{metres:.1f} m), {where} | {cells} |")
    total = sum(planted.values())
    cells = " | ".join(
        f"{sum(found[t].values())}/{total} ({sum(found[t].values()) / total:.0%})"
        for t in THRESHOLDS
    )
    print(f"| recall, all planted faces ({n_scenes} scenes) | {cells} |")
    cells = " | ".join(str(false[t]) for t in THRESHOLDS)
    print(f"| false positives on the {n_scenes} planted scenes | {cells} |")
    cells = " | ".join(str(clean[t]) for t in THRESHOLDS)
    print(f"| regions on the face-free sample panorama | {cells} |")


if __name__ == "__main__":
    main()
