"""Face-blur benchmark, one markdown table: ``python -m tests.bench privacy [scenes] [--quick]``.

Run from the repository root; not collected by pytest (no test_ prefix). For each way of
searching (the old path, ``cv2.dnn`` on the 18 views at full resolution, upright only, kept
here as the reference; the same through ONNX Runtime; and the two-pass plans of
:mod:`stitching.privacy.search`) it times :func:`stitching.privacy.blur_faces` on an
8192x4096 scene (the sample panorama upscaled, with faces planted) as CPU user+sys of this
process (``resource.getrusage``, which includes any worker threads), the median of 3 warm
runs; then measures recall and false positives on ``scenes`` (default 6) 8192x4096
panoramas, each with 12 real face photographs planted at seeded random yaw/pitch (|pitch|
<= 70 deg) and sizes: once upright ("today's planted-face set") and once with every face
rolled by 90, -90 or 180 deg in turn, and once rolled 45 deg (between two searched rolls).
A face counts as found when a region's centre is within a third of its photograph's size of
the planted centre; a region whose centre is outside every planted photograph is a false
positive (one photograph holds a second, smaller face, which the sharper searches find). Distances
assume a face (chin to forehead) 0.18 m high. Recall is split at 30 deg of pitch, where the
views drop to half resolution: from a tripod at eye level, a small (distant) face more than
30 deg off the horizon cannot happen, yet the random placement plants some.
"""

from __future__ import annotations

import math
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from config.data import FACE_MODEL
from config.errors import CaptureError
from stitching.privacy import FaceDetector, FaceRegion, blur_faces
from stitching.privacy.blur import _blur_region
from stitching.privacy.detector import METHOD
from stitching.privacy.regions import merge_regions
from stitching.privacy.search import DEFAULT_PLAN, Plan
from stitching.privacy.views import choose_view_size, detection_views, view_maps
from stitching.sphere import remap_wrapped
from tests.stitching.test_privacy import FACES_DIR, direction, plant

ROOT = Path(__file__).resolve().parents[2]
PANO = ROOT / "tests" / "data" / "pannellum_examplepano.jpg"
WIDTH = 8192
PHOTOS = ("astronaut", "cameraman", "boy_highfive", "goalie_poster")
# Photograph sides in degrees; the face is about half of it.
CROP_SIZES = (6.0, 9.0, 12.0, 18.0, 24.0)
FACES_PER_SCENE = 12
BANDS = ("|pitch| <= 30", "|pitch| > 30")
#: Face rolls of each planted set, degrees, cycled over the faces of a scene.
SETS = {"upright": (0.0,), "rolled 90/-90/180": (90.0, -90.0, 180.0), "rolled 45": (45.0,)}

#: Finds the faces of an equirect and blurs them in place (as the pipeline does); returns them.
Blur = Callable[[np.ndarray], list[FaceRegion]]


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


def turned(photo: np.ndarray, roll_deg: float) -> np.ndarray:
    """The photograph turned by ``roll_deg`` counter-clockwise about its centre."""
    if roll_deg % 90 == 0:
        return np.ascontiguousarray(np.rot90(photo, round(roll_deg / 90) % 4))
    side = photo.shape[0]
    m = cv2.getRotationMatrix2D((side / 2 - 0.5, side / 2 - 0.5), roll_deg, 1.0)
    return cv2.warpAffine(photo, m, (side, side), borderMode=cv2.BORDER_REFLECT)


def scene(
    background: np.ndarray, photos: list[np.ndarray], rng: np.random.Generator,
    rolls: Sequence[float],
) -> tuple[np.ndarray, list[tuple[float, float, float]]]:  # fmt: skip
    """A panorama with faces at random places that do not overlap: (image, [(yaw, pitch, size)])."""
    img = background.copy()
    placed: list[tuple[float, float, float]] = []
    while len(placed) < FACES_PER_SCENE:
        size = float(rng.choice(CROP_SIZES))
        yaw = float(rng.uniform(-180.0, 180.0))
        pitch = math.degrees(math.asin(rng.uniform(-1.0, 1.0) * math.sin(math.radians(70.0))))
        here = direction(yaw, pitch)
        if all(angle_deg(here, direction(y, p)) > (size + s) * 0.75 + 2.0 for y, p, s in placed):
            photo = turned(photos[len(placed) % len(photos)], rolls[len(placed) % len(rolls)])
            plant(img, photo, yaw, pitch, size)
            placed.append((yaw, pitch, size))
    return img, placed


def cv2_dnn_detector(model: bytes) -> FaceDetector:
    """The reference: CenterFace through ``cv2.dnn``, as panodock ran it before ONNX Runtime."""
    net = cv2.dnn.readNetFromONNX(np.frombuffer(model, dtype=np.uint8))

    def run(blob: np.ndarray) -> Sequence[np.ndarray]:
        out = []
        for k in range(blob.shape[0]):  # the old path fed one view at a time
            net.setInput(blob[k : k + 1])
            out.append(net.forward(["537", "538", "539"]))
        return [np.concatenate([o[i] for o in out]) for i in range(3)]

    return FaceDetector(run, version="cv2.dnn")


def old_search(detector: FaceDetector) -> Blur:
    """The search before the two-pass plans: every one of the 18 views at full resolution."""

    def blur(equirect: np.ndarray) -> list[FaceRegion]:
        width = equirect.shape[1]
        size = choose_view_size(None, width)
        work_width = min(width, 4 * round(math.pi * size / 4))
        work = cv2.resize(equirect, (work_width, work_width // 2), interpolation=cv2.INTER_AREA)
        found: list[FaceRegion] = []
        for view, maps in zip(detection_views(size), view_maps(work_width, size), strict=True):
            found.extend(view.region(d) for d in detector.detect(remap_wrapped(work, maps)))
        regions = merge_regions(found)
        for region in regions:
            _blur_region(equirect, region)
        return regions

    return blur


def planned(detector: FaceDetector, plan: Plan) -> Blur:
    def blur(equirect: np.ndarray) -> list[FaceRegion]:
        result = blur_faces(equirect, detector, plan=plan, out=equirect)
        if not result.complete:
            raise CaptureError(f"search incomplete: {result.failed}")
        return result.regions

    return blur


def timed(blur: Blur, img: np.ndarray, runs: int) -> tuple[float, float]:
    """Median CPU and wall seconds of ``runs`` warm calls (one call first, untimed)."""
    blur(img.copy())
    cpu, wall = [], []
    for _ in range(runs):
        target = img.copy()
        c0, t0 = cpu_seconds(), time.perf_counter()
        blur(target)
        cpu.append(cpu_seconds() - c0)
        wall.append(time.perf_counter() - t0)
    return statistics.median(cpu), statistics.median(wall)


def recall(
    blur: Blur, scenes: list[tuple[np.ndarray, list[tuple[float, float, float]]]]
) -> tuple[dict[str, tuple[int, int]], int]:
    """Found/planted per pitch band and overall, and false positives."""
    found = dict.fromkeys(BANDS, 0)
    planted = dict.fromkeys(BANDS, 0)
    false = 0
    for img, placed in scenes:
        centres = [direction(r.yaw_deg, r.pitch_deg) for r in blur(img.copy())]
        for yaw, pitch, size in placed:
            here = direction(yaw, pitch)
            planted[band(pitch)] += 1
            found[band(pitch)] += any(angle_deg(c, here) < size / 3 for c in centres)
        # Outside every photograph (a photograph may hold a second, smaller face).
        false += sum(
            all(angle_deg(c, direction(y, p)) > 0.75 * s for y, p, s in placed)
            for c in centres
        )
    out = {b: (found[b], planted[b]) for b in BANDS}
    out["all"] = (sum(found.values()), sum(planted.values()))
    return out, false


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    quick = "--quick" in sys.argv
    n_scenes = int(args[0]) if args else 6
    model = FACE_MODEL.read_bytes()
    ort = FaceDetector.from_onnx(model)
    methods: dict[str, Blur] = {
        "reference: cv2.dnn, 18 views full res, upright only": old_search(cv2_dnn_detector(model)),
        "ONNX Runtime, 18 views full res, upright only": old_search(ort),
    }
    plans = {f"{METHOD} (default): {describe(DEFAULT_PLAN)}": DEFAULT_PLAN}
    if not quick:
        plans["the same, upright only (no rolls)"] = replace(DEFAULT_PLAN, rolls_deg=(0,))
        plans["turned copies as sharp as upright (0.8x)"] = replace(DEFAULT_PLAN, rolled_scale=0.8)
        plans["cheaper: upright 0.7x, turned 0.3x"] = replace(
            DEFAULT_PLAN, scale=0.7, rolled_scale=0.3
        )
    methods |= {name: planned(ort, plan) for name, plan in plans.items()}

    pano = read(PANO)
    background = cv2.resize(pano, (WIDTH, WIDTH // 2), interpolation=cv2.INTER_CUBIC)
    photos = [read(FACES_DIR / f"{name}.jpg") for name in PHOTOS]
    sets = {}
    for name, rolls in SETS.items():
        rng = np.random.default_rng(8)  # the same places and sizes in every set
        sets[name] = [scene(background, photos, rng, rolls) for _ in range(n_scenes)]

    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {n_scenes} scenes per set")
    print()
    header = ["search", "CPU s (8K, warm)", "wall s"]
    for name in SETS:
        header += [f"{name}: {b}" for b in BANDS] + [f"{name}: all"]
    header += ["false positives (upright set)", "regions on the face-free pano"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, blur in methods.items():
        cpu, wall = timed(blur, sets["upright"][0][0], 1 if name.startswith("ref") else 3)
        cells = [name, f"{cpu:.2f}", f"{wall:.2f}"]
        false = 0
        for set_name, scenes in sets.items():
            counts, f = recall(blur, scenes)
            false = f if set_name == "upright" else false
            cells += [f"{k}/{n} ({k / max(n, 1):.0%})" for k, n in counts.values()]
        cells += [str(false), str(len(blur(background.copy())))]
        print("| " + " | ".join(cells) + " |", flush=True)


def describe(plan: Plan) -> str:
    """A plan in a table cell."""
    yaws = "/".join(f"{y:g}" for y in plan.polar_yaws_deg)
    return (
        f"band + poles x rolls {'/'.join(str(r) for r in plan.rolls_deg)}; 1st pass "
        f"{plan.scale:g}x upright, {plan.rolled_scale:g}x turned, poles {plan.polar_scale:g}x "
        f"at yaw {yaws}, threshold {plan.threshold:g}; weak hits confirmed"
    )


if __name__ == "__main__":
    main()
