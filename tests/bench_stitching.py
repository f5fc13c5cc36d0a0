"""Stitching benchmark, one markdown table: ``python tests/bench_stitching.py [lunchroom dir]``.

Not collected by pytest (no test_ prefix). The 12-frame lunchroom set defaults to the
shared 5 MP copy (../shared/data/multishot/lunchroom12_half) when it exists, else the
downscaled copy in tests/data/stitching/lunchroom12; it runs in a child process so its
peak RSS is measured alone.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stitching.fisheye import DualFisheyeRemapper, exposure_gains, geometry_for, seam_strips  # noqa: E402
from stitching.kinds import stitch_dual_fisheye, stitch_multishot  # noqa: E402
from tests.stitching.harness import footprint, render_dual_fisheye, render_views, score  # noqa: E402

PANO = ROOT / "tests" / "data" / "pannellum_examplepano.jpg"
SHARED_LUNCHROOM = ROOT.parent / "shared" / "data" / "multishot" / "lunchroom12_half"
LOCAL_LUNCHROOM = ROOT / "tests" / "data" / "stitching" / "lunchroom12"

_CHILD = """
import sys, time, glob, cv2
sys.path.insert(0, {root!r})
from stitching.kinds import Frame, stitch_multishot
files = sorted(glob.glob({folder!r} + '/img*.jpg'))
t = time.perf_counter()
frames = [Frame(name=f.rsplit('/', 1)[-1], image=cv2.imread(f)) for f in files]
r = stitch_multishot(frames, yaw_step_deg=30.0)
print(time.perf_counter() - t, len(r.frames_used), len(files), r.equirect.shape[1],
      frames[0].image.shape[1], frames[0].image.shape[0])
"""


def main() -> None:
    folder = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else (SHARED_LUNCHROOM if SHARED_LUNCHROOM.is_dir() else LOCAL_LUNCHROOM)
    )
    rows: list[tuple[str, str, str]] = []
    # First, while this process is small: a forked child's peak RSS starts from its parent's.
    out = subprocess.run(
        [sys.executable, "-c", _CHILD.format(root=str(ROOT), folder=str(folder))],
        capture_output=True,
        text=True,
        check=True,
    )
    wall_s, used, total, width, fw, fh = out.stdout.split()
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rows.append(
        (
            f"lunchroom 12 x {fw}x{fh} ({folder.name}), child process -> {width} px wide",
            f"{float(wall_s):.2f} s wall, {peak_mb:.0f} MB peak RSS, {used}/{total} frames",
            "<= 8 s, <= 1.5 GB, 12/12",
        )
    )

    pano = cv2.imread(str(PANO), cv2.IMREAD_COLOR)
    case = render_dual_fisheye(pano, 5760, np.random.default_rng(5))
    geometry = geometry_for(case.profile, 5760, 2880)
    s0, s1, valid, _ = seam_strips(case.frame, geometry)
    gains = exposure_gains(s0[valid], s1[valid])
    cold_cpu, cold_wall = _timed(
        lambda: DualFisheyeRemapper().render(case.frame, geometry, 5760, gains=gains)
    )
    remapper = DualFisheyeRemapper()
    remapper.render(case.frame, geometry, 5760, gains=gains)
    runs = [
        _timed(lambda: remapper.render(case.frame, geometry, 5760, gains=gains)) for _ in range(5)
    ]
    cpu = float(np.median([r[0] for r in runs]))
    wall = float(np.median([r[1] for r in runs]))
    rows.append(
        (
            "dual-fisheye 5760x2880 -> 5760x2880, cached maps (remap + band blend + gains)",
            f"{cpu * 1000:.0f} ms CPU, {wall * 1000:.0f} ms wall",
            "<= 120 ms CPU",
        )
    )
    rows.append(
        (
            "dual-fisheye 5760x2880, cold (map building + first frame)",
            f"{cold_cpu:.2f} s CPU, {cold_wall:.2f} s wall",
            "reported",
        )
    )
    full_cpu, full_wall = _timed(
        lambda: stitch_dual_fisheye(
            case.frame, make=None, model=None, profile=case.profile, remapper=remapper
        )
    )
    rows.append(
        (
            "dual-fisheye 5760x2880, whole stitch per frame (seam refinement + gains + "
            "render, maps cached)",
            f"{full_cpu:.2f} s CPU, {full_wall:.2f} s wall",
            "-",
        )
    )

    result = stitch_dual_fisheye(
        case.frame, make=None, model=None, profile=case.profile, out_width=4096
    )
    sc = score(result.equirect, pano, width=4096)
    rows.append(
        (
            "harness dual-fisheye (5760 frame, 4096 out, scored at 4096)",
            f"{sc.psnr_db:.2f} dB, SSIM {sc.ssim:.3f}, coverage {sc.coverage:.3f}, "
            f"seam {result.details['seam_shift_px']} px, tile shift {sc.tile_shift_px:.2f} px",
            ">= 35 dB, seam <= 1 px",
        )
    )

    sc = score(result.equirect, pano, width=1024)
    rows.append(
        (
            "same stitch, scored at 1024 (as the tests do)",
            f"{sc.psnr_db:.2f} dB, SSIM {sc.ssim:.3f}",
            ">= 35 dB",
        )
    )

    size, hfov = (1280, 960), 75.0
    frames, poses = render_views(
        pano, rows=[(0.0, 8)], hfov_deg=hfov, size=size, rng=np.random.default_rng(7)
    )
    t = time.perf_counter()
    ms = stitch_multishot(frames, yaw_step_deg=45.0, out_width=4096)
    took = time.perf_counter() - t
    sc = score(ms.equirect, pano, width=4096, within=footprint(poses, hfov, size, 4096))
    rows.append(
        (
            "harness multi-shot, 8 views 1280x960 one row (4096 out, scored at 4096)",
            f"{sc.psnr_db:.2f} dB, SSIM {sc.ssim:.3f}, coverage {sc.coverage:.3f}, "
            f"{len(ms.frames_used)}/8 used, {took:.1f} s",
            ">= 32.8 dB, cov 1.0, 8/8",
        )
    )
    frames, poses = render_views(
        pano,
        rows=[(0.0, 8), (45.0, 6), (-45.0, 6)],
        hfov_deg=hfov,
        size=size,
        rng=np.random.default_rng(3),
    )
    ms = stitch_multishot(frames, out_width=4096, allow_incomplete=True)
    sc = score(ms.equirect, pano, width=4096, within=footprint(poses, hfov, size, 4096))
    rows.append(
        (
            "harness multi-shot, 3 rows 8+6+6 views (allow_incomplete)",
            f"{sc.psnr_db:.2f} dB, coverage {sc.coverage:.3f}, {len(ms.frames_used)}/20 used",
            "coverage >= 0.98",
        )
    )

    print("| measurement | result | target |")
    print("|---|---|---|")
    for name, value, target in rows:
        print(f"| {name} | {value} | {target} |")


def _timed(fn) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    c, w = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c, time.perf_counter() - w


if __name__ == "__main__":
    main()
