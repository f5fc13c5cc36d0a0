"""Face-blur benchmark, markdown tables: ``python -m tests.bench privacy [scenes] [options]``.

Run from the repository root; not collected by pytest (no test_ prefix). For each way of
searching (before: the float network with the plan of before, as the stage ran before
this change; after: the 8-bit network with the default plan; with ``--plans``, each
network with the other plan and variants of the default plan; with ``--reference``, the
old path of ``cv2.dnn`` on 18 views at full resolution, upright only) it times
:func:`stitching.privacy.blur_faces` on an 8192x4096 scene (the sample panorama upscaled,
with faces planted) as CPU user+sys of this process (``resource.getrusage``, which includes
any worker threads), the median of 3 warm runs interleaved across the ways (A B A B ...);
then measures recall and false positives on ``scenes`` (default 6) 8192x4096 panoramas of
the planted-face set (tests/stitching/planted.py): 12 real face photographs each at seeded
random yaw/pitch (|pitch| <= 70 deg) and sizes, once upright ("today's planted-face set"),
once with every face rolled by 90, -90 or 180 deg in turn, once rolled 45 deg (between two
searched rolls). Recall is split at 30 deg of pitch: from a tripod at eye level a small
(distant) face more than 30 deg off the horizon cannot happen, yet the placement plants some.

Memory: for each precision a fresh child process loads the detector and blurs one planted
8K scene twice, releasing the detector's arena after each call as the pipeline's stage
does; the table gives the RSS the detector adds when loaded, the peak RSS (VmHWM, reset
through /proc/self/clear_refs just before the call) above the RSS before the first (cold)
and second (warm) call, and the RSS kept at the end over the RSS before loading. ``--job``
also runs whole 8K jobs through the real pipeline (tests/bench/references.py's worker
script, under GNU time), blurring off and on in turn, and prints their peak RSS.
``--calibrate`` measures the 8-bit network's activation ranges and writes
:mod:`stitching.privacy.ranges`.
"""

from __future__ import annotations

import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from config.data import FACE_MODEL
from config.errors import CaptureError
from stitching.privacy import FaceDetector, FaceRegion, blur_faces
from stitching.privacy.blur import _blur_region
from stitching.privacy.model import free_sizes
from stitching.privacy.quantize import calibrate, digest
from stitching.privacy.regions import merge_regions
from stitching.privacy.search import DEFAULT_PLAN, Plan
from stitching.privacy.views import choose_view_size, detection_views, view_maps
from stitching.sphere import remap_wrapped
from tests.stitching.planted import BANDS, SETS, photos, scene, score

ROOT = Path(__file__).resolve().parents[2]
PANO = ROOT / "tests" / "data" / "pannellum_examplepano.jpg"
WIDTH = 8192
#: Where --calibrate writes the range table, and what it calibrates on: scenes made like the
#: recall sets but with another seed (other places, sizes and rolls of the same photographs).
RANGES_FILE = ROOT / "stitching" / "privacy" / "ranges.py"
CALIBRATION_SEED = 99

#: The plan the stage searched with before the 8-bit network (``ort-rolls4``); run with the
#: float network it is the stage as it was, less the strips (which only bound memory).
BEFORE_PLAN = Plan(
    scale=0.8, rolled_scale=0.35, polar_scale=0.45, polar_yaws_deg=(0.0, 45.0), threshold=0.1
)

#: Finds the faces of an equirect and blurs them in place (as the pipeline does); returns them.
Blur = Callable[[np.ndarray], list[FaceRegion]]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"cannot read {path}")
    return img


def background() -> np.ndarray:
    return cv2.resize(read(PANO), (WIDTH, WIDTH // 2), interpolation=cv2.INTER_CUBIC)


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


def timed(blurs: dict[str, Blur], img: np.ndarray, runs: int) -> dict[str, float]:
    """Median CPU seconds of ``runs`` warm calls of each, interleaved (one call first)."""
    cpu: dict[str, list[float]] = {name: [] for name in blurs}
    for blur in blurs.values():
        blur(img.copy())
    for _ in range(runs):
        for name, blur in blurs.items():
            target = img.copy()
            c0 = cpu_seconds()
            blur(target)
            cpu[name].append(cpu_seconds() - c0)
    return {name: statistics.median(values) for name, values in cpu.items()}


def recall(
    blur: Blur, scenes: list[tuple[np.ndarray, list[tuple[float, float, float]]]]
) -> tuple[dict[str, tuple[int, int]], int]:
    """Found/planted per pitch band and overall, and false positives."""
    totals = {key: [0, 0] for key in (*BANDS, "all")}
    false = 0
    for img, placed in scenes:
        counts, f = score(blur(img.copy()), placed)
        false += f
        for key, (k, n) in counts.items():
            totals[key][0] += k
            totals[key][1] += n
    return {k: (v[0], v[1]) for k, v in totals.items()}, false


#: A child process: load the detector, blur one planted 8K scene twice, report RSS (MB).
_STAGE_MEMORY = r"""
import json, sys
import numpy as np
from config.data import FACE_MODEL
from stitching.privacy import FaceDetector, blur_faces
from tests.bench.privacy import background
from tests.stitching.planted import photos, scene

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(key))

img, _ = scene(background(), photos(), np.random.default_rng(8), (0.0,))
copies = [img.copy(), img.copy()]
del img
base = status("VmRSS")
detector = FaceDetector.from_onnx(FACE_MODEL.read_bytes(), precision=sys.argv[1])
out = {"loaded": status("VmRSS") - base}
for name, target in zip(("cold", "warm"), copies):
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM := VmRSS
    before = status("VmRSS")
    blur_faces(target, detector, out=target)
    detector.release_memory()  # as the pipeline's stage does
    out[name] = status("VmHWM") - before
out["kept"] = status("VmRSS") - base
print(json.dumps(out))
"""


def stage_memory(precision: str) -> dict[str, float]:
    """RSS figures of the privacy stage in a fresh process (MB; see the module docstring)."""
    done = subprocess.run(
        [sys.executable, "-c", _STAGE_MEMORY, precision],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def job_memory(rounds: int) -> dict[str, list[float]]:
    """Peak RSS (MB) of whole warm 8K jobs, blurring off and on in turn, ``rounds`` each."""
    from tests.bench.references import _PANODOCK, _upscaled_sample, measure
    from workers.service.redis_server import RedisServer, free_port

    peaks: dict[str, list[float]] = {"off": [], "required": []}
    with tempfile.TemporaryDirectory(prefix="panodock-privacy-") as tmp:
        work = Path(tmp)
        image = _upscaled_sample(work / "input.jpg")
        redis = RedisServer(work / "redis", port=free_port())
        redis.start()
        try:
            for k in range(rounds):
                for blur in peaks:
                    job = work / f"job{k}{blur}"
                    job.mkdir()
                    cmd = [sys.executable, "-c", _PANODOCK, str(image), str(job), redis.url, blur]
                    peaks[blur].append(measure(cmd).rss_mb)
        finally:
            redis.stop()
    return peaks


def calibrate_ranges(model: bytes, back: np.ndarray, faces: list[np.ndarray]) -> None:
    """Measure the activation ranges on what the search feeds the network; write the table.

    The float network searches two upright and two rolled calibration scenes with the
    default plan; every batch it is given is recorded, and the ranges are measured on them.
    """
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        free_sizes(model), sess_options=options, providers=["CPUExecutionProvider"]
    )
    blobs: list[np.ndarray] = []

    def run(blob: np.ndarray) -> Sequence[np.ndarray]:
        blobs.append(blob.copy())
        return session.run(["537", "538", "539"], {"input.1": blob})

    recording = FaceDetector(run, version="calibration")
    rng = np.random.default_rng(CALIBRATION_SEED)
    for rolls in ((0.0,), (0.0,), (90.0, -90.0, 180.0), (90.0, 180.0, 45.0)):
        img, _ = scene(back, faces, rng, rolls)
        blur_faces(img, recording, out=img)
    ranges = calibrate(model, blobs)
    lines = [
        '"""Generated by ``python -m tests.bench privacy --calibrate``: do not edit.',
        "",
        f"Activation ranges (min, max) of CenterFace on {len(blobs)} batches the search fed it",
        f"(planted scenes of seed {CALIBRATION_SEED}); see :mod:`stitching.privacy.quantize`.",
        '"""',
        "",
        f'RANGES_MODEL = "{digest(model)}"',
        "RANGES: dict[str, tuple[float, float]] = {",
        *(f'    "{k}": ({lo!r}, {hi!r}),' for k, (lo, hi) in sorted(ranges.items())),
        "}",
        "",
    ]
    RANGES_FILE.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {len(ranges)} ranges from {len(blobs)} batches to {RANGES_FILE}")


def describe(plan: Plan) -> str:
    """A plan in a table cell."""
    yaws = "/".join(f"{y:g}" for y in plan.polar_yaws_deg)
    return (
        f"band + poles x rolls {'/'.join(str(r) for r in plan.rolls_deg)}; 1st pass "
        f"{plan.scale:g}x upright, {plan.rolled_scale:g}x turned, poles {plan.polar_scale:g}x "
        f"at yaw {yaws}, threshold {plan.threshold:g}; weak hits confirmed"
    )


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n_scenes = int(args[0]) if args else 6
    model = FACE_MODEL.read_bytes()
    faces = photos()
    if "--calibrate" in sys.argv:
        calibrate_ranges(model, background(), faces)
        return
    int8 = FaceDetector.from_onnx(model)
    exact = FaceDetector.from_onnx(model, precision="float")
    methods: dict[str, Blur] = {}
    if "--reference" in sys.argv:
        methods["reference: cv2.dnn, 18 views full res, upright only"] = old_search(
            cv2_dnn_detector(model)
        )
    methods[f"before: float network, {describe(BEFORE_PLAN)}"] = planned(exact, BEFORE_PLAN)
    methods[f"{int8.version.split('+')[0]} (default): 8-bit, {describe(DEFAULT_PLAN)}"] = planned(
        int8, DEFAULT_PLAN
    )
    if "--plans" in sys.argv:
        for name, plan in {
            "float network, the default plan": DEFAULT_PLAN,
            "8-bit network, the plan before": BEFORE_PLAN,
        }.items():
            methods[name] = planned(exact if name.startswith("float") else int8, plan)
        for name, plan in {
            "8-bit, upright only (no rolls)": replace(DEFAULT_PLAN, rolls_deg=(0,)),
            "8-bit, polar views at two yaws (0/45)": replace(
                DEFAULT_PLAN, polar_yaws_deg=(0.0, 45.0)
            ),
            "8-bit, turned copies sharper (0.45x)": replace(DEFAULT_PLAN, rolled_scale=0.45),
        }.items():
            methods[name] = planned(int8, plan)

    back = background()
    sets = {}
    for name, rolls in SETS.items():
        rng = np.random.default_rng(8)  # the same places and sizes in every set
        sets[name] = [scene(back, faces, rng, rolls) for _ in range(n_scenes)]

    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {n_scenes} scenes per set")
    print()
    header = ["search", "CPU s (8K, warm)"]
    for name in SETS:
        header += [f"{name}: {b}" for b in BANDS] + [f"{name}: all"]
    header += ["false positives (upright set)", "regions on the face-free pano"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    cpu = timed(methods, sets["upright"][0][0], 3)
    for name, blur in methods.items():
        cells = [name, f"{cpu[name]:.2f}"]
        false = 0
        for set_name, scenes in sets.items():
            counts, f = recall(blur, scenes)
            false = f if set_name == "upright" else false
            cells += [f"{k}/{n} ({k / max(n, 1):.0%})" for k, n in counts.values()]
        cells += [str(false), str(len(blur(back.copy())))]
        print("| " + " | ".join(cells) + " |", flush=True)

    print()
    print("| network | RSS added by loading the detector, MB | stage peak above its input, "
          "cold MB | warm MB | kept at the end, MB |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    for precision in ("float", "int8"):
        mem = stage_memory(precision)
        print(f"| {precision} | {mem['loaded']:.0f} | {mem['cold']:.0f} | {mem['warm']:.0f} | "
              f"{mem['kept']:.0f} |", flush=True)  # fmt: skip
    if "--job" in sys.argv:
        peaks = job_memory(2)
        off, on = max(peaks["off"]), max(peaks["required"])
        print()
        print("| whole 8K job, warm worker | peak RSS MB (max of 2) |")
        print("|---|---:|")
        print(f"| blurring off | {off:.0f} |")
        print(f"| blurring on | {on:.0f} |")
        print(f"| privacy stage's increment | {on - off:.0f} |")


if __name__ == "__main__":
    main()
