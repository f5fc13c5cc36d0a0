"""Stitching benchmark, one markdown table: ``python -m tests.bench.stitching [lunchroom dir]``.

Run from the repository root; not collected by pytest (no test_ prefix). The 12-frame
lunchroom set defaults to the shared 5 MP copy (../shared/data/multishot/lunchroom12_half)
when it exists, else the downscaled copy in tests/data/stitching/lunchroom12; it runs in a
child process so its peak RSS is measured alone, timed after the imports as in a running
worker. With the shared copy it is also upscaled 2x to the camera's own 3648x5472 (20 MP,
in a temporary directory) and stitched again, with free and with fixed-exposure gains:
peak RSS, wall, CPU and the kernel's share of that CPU for each child. Quality rows
stand beside their ceiling: the same frames put back with the true geometry and exposure
through the same code, so the gap is what the stitcher's estimates cost.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from stitching.fisheye import (
    FEATHER_DEG,
    DualFisheyeRemapper,
    exposure_gains,
    geometry_for,
    seam_strips,
)
from stitching.fisheye.maps import build_maps
from stitching.multishot import stitch_frames
from tests.stitching.harness import (
    DualFisheyeCase,
    exact_gains,
    exact_geometry,
    footprint,
    multishot_ceiling,
    render_dual_fisheye,
    render_views,
    score,
)
from tests.support.data import stitch_builtin

ROOT = Path(__file__).resolve().parents[2]
PANO = ROOT / "tests" / "data" / "pannellum_examplepano.jpg"
STITCHING = ROOT / "tests" / "data" / "stitching"
SHARED_LUNCHROOM = ROOT.parent / "shared" / "data" / "multishot" / "lunchroom12_half"
LOCAL_LUNCHROOM = STITCHING / "lunchroom12"

# Run with the repository as its working directory, as this benchmark is.
_CHILD = """
import time, glob, cv2
from stitching.frames import Frame
from stitching.multishot import stitch_frames
import stitching.multishot  # imported once when a worker first stitches a set
files = sorted(glob.glob({folder!r} + '/img*.jpg'))
t = time.perf_counter()
frames = [Frame(name=f.rsplit('/', 1)[-1], image=cv2.imread(f)) for f in files]
r = stitch_frames(frames, yaw_step_deg=30.0, fixed_exposure={fixed!r})
print(time.perf_counter() - t, len(r.frames_used), len(files), r.equirect.shape[1],
      frames[0].image.shape[1], frames[0].image.shape[0])
"""

# The camera's own 20 MP: the 5 MP copy upscaled 2x (bicubic, JPEG q92), in a child so
# that this process stays small for the children measured after it.
_UPSCALE = """
import glob, os, sys, cv2
for f in sorted(glob.glob(sys.argv[1] + '/img*.jpg')):
    im = cv2.imread(f)
    up = cv2.resize(im, (im.shape[1] * 2, im.shape[0] * 2), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(os.path.join(sys.argv[2], os.path.basename(f)), up, [cv2.IMWRITE_JPEG_QUALITY, 92])
"""

Row = tuple[str, str, str]


def main() -> None:
    folder = (
        Path(sys.argv[1])
        if len(sys.argv) > 1 and not sys.argv[1].startswith("--")
        else (SHARED_LUNCHROOM if SHARED_LUNCHROOM.is_dir() else LOCAL_LUNCHROOM)
    )
    # First, while this process is small: a forked child's peak RSS starts from its parent's.
    rows = [_lunchroom(folder)]
    if folder == SHARED_LUNCHROOM:
        with tempfile.TemporaryDirectory() as big:
            subprocess.run([sys.executable, "-c", _UPSCALE, str(folder), big], check=True)
            rows.append(_lunchroom(Path(big), label="20 MP: lunchroom12_half upscaled 2x"))
            rows.append(_lunchroom(Path(big), label="20 MP, fixed_exposure=True", fixed=True))
    pano = cv2.imread(str(PANO), cv2.IMREAD_COLOR)
    case = render_dual_fisheye(pano, 5760, np.random.default_rng(5))
    rows += _dual_fisheye_speed(case)
    rows += _dual_fisheye_quality(case, pano)
    rows += _real_frames()
    rows += _multishot(pano)
    print("| measurement | result | target |")
    print("|---|---|---|")
    for name, value, target in rows:
        print(f"| {name} | {value} | {target} |")


def _lunchroom(folder: Path, *, label: str = "", fixed: bool = False) -> Row:
    """One lunchroom stitch in a freshly started child: its own peak RSS, CPU and kernel
    share (os.wait4 gives that child's usage alone)."""
    with tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD.format(folder=str(folder), fixed=fixed)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        assert child.stdout is not None
        out = child.stdout.read()
        # Reaped here rather than by Popen, to get this child's own usage.
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        wall_child = time.perf_counter() - t
        if child.returncode:
            err.seek(0)
            raise RuntimeError(f"lunchroom child failed: {err.read()[-500:]}")
    wall_s, used, total, width, fw, fh = out.split()
    cpu = usage.ru_utime + usage.ru_stime
    size = f"{int(fw) * int(fh) / 1e6:.0f} MP"
    big = int(fw) * int(fh) > 10e6
    return (
        f"lunchroom 12 x {fw}x{fh} ({label or folder.name}), child process -> {width} px wide",
        f"{float(wall_s):.2f} s wall after imports ({wall_child:.1f} s whole child), "
        f"{usage.ru_maxrss / 1024:.0f} MB peak RSS, {cpu:.1f} s CPU of which kernel "
        f"{100 * usage.ru_stime / cpu:.0f} %, {used}/{total} frames ({size}, load "
        f"{os.getloadavg()[0]:.1f})",
        "<= 25 s, <= 2.0 GB, kernel < 15 %, 12/12" if big else "<= 8 s, <= 1.5 GB, 12/12",
    )


def _dual_fisheye_speed(case: DualFisheyeCase) -> list[Row]:
    geometry = geometry_for(case.profile, 5760, 2880)
    s0, s1, valid, _ = seam_strips(case.frame, geometry)
    gains = exposure_gains(s0[valid], s1[valid])
    rows: list[Row] = []
    for label, flag in (("", cv2.INTER_LINEAR), (", INTER_CUBIC option", cv2.INTER_CUBIC)):

        def render(remapper: DualFisheyeRemapper) -> None:
            remapper.render(case.frame, geometry, 5760, gains=gains)

        cold = _timed(lambda flag=flag: render(DualFisheyeRemapper(interpolation=flag)))
        remapper = DualFisheyeRemapper(interpolation=flag)
        render(remapper)
        runs = [_timed(lambda r=remapper: render(r)) for _ in range(9)]
        cpu, wall = (float(np.median([r[i] for r in runs])) for i in (0, 1))
        rows.append(
            (
                f"dual-fisheye 5760x2880 -> 5760x2880, cached maps (sharpening + gains, remap "
                f"by zones, seam band){label}",
                f"{cpu * 1000:.0f} ms CPU, {wall * 1000:.0f} ms wall (median of 9)",
                "<= 120 ms CPU" if not label else "-",
            )
        )
        rows.append(
            (
                f"dual-fisheye 5760x2880, cold (map building + first frame){label}",
                f"{cold[0]:.2f} s CPU, {cold[1]:.2f} s wall",
                "reported",
            )
        )

    # The floor: one bare cv2.remap of the whole 5760x2880 output with the render's own
    # fixed-point maps at full width (no zones, no band, no gains), timed in pairs with the
    # cached render, interleaved, so both see the same load.
    full = build_maps(geometry, 5760, math.radians(FEATHER_DEG), thin_poles=False).zones[0]
    remapper = DualFisheyeRemapper()
    remapper.render(case.frame, geometry, 5760, gains=gains)
    pairs = [
        (
            _timed(lambda: cv2.remap(case.frame, *full.primary, cv2.INTER_LINEAR)),
            _timed(lambda: remapper.render(case.frame, geometry, 5760, gains=gains)),
        )
        for _ in range(15)
    ]
    bare_cpu = float(np.median([b[0] for b, _ in pairs]))
    render_cpu = float(np.median([r[0] for _, r in pairs]))
    ratio = float(np.median([r[0] / b[0] for b, r in pairs]))
    rows.append(
        (
            "the floor on this machine: one bare cv2.remap of 5760x2880 (BRIEF measured 73 ms)",
            f"{bare_cpu * 1000:.0f} ms CPU, "
            f"{np.median([b[1] for b, _ in pairs]) * 1000:.0f} ms wall (median of 15)",
            "-",
        )
    )
    rows.append(
        (
            "dual-fisheye 5760x2880 cached render (default: sharpening + gains, zones, seam "
            "band) / the bare remap, 15 interleaved pairs",
            f"{ratio:.2f}x CPU (median of the pairs' ratios; medians {render_cpu * 1000:.0f} "
            f"/ {bare_cpu * 1000:.0f} ms; load {os.getloadavg()[0]:.1f})",
            "<= 1.3x",
        )
    )
    remapper = DualFisheyeRemapper()
    remapper.maps(geometry, 5760)

    def stitch() -> None:
        stitch_builtin(case.frame, make=None, model=None, profile=case.profile, remapper=remapper)

    first = _timed(stitch)
    later = [_timed(stitch) for _ in range(5)]
    rows.append(
        (
            "dual-fisheye 5760x2880, whole stitch, a camera's first frame (seam refinement + "
            "gains + render)",
            f"{first[0]:.2f} s CPU, {first[1]:.2f} s wall",
            "-",
        )
    )
    rows.append(
        (
            "dual-fisheye 5760x2880, whole stitch per later frame (seam fit kept and checked "
            "+ gains + render)",
            f"{np.median([r[0] for r in later]):.2f} s CPU, "
            f"{np.median([r[1] for r in later]):.2f} s wall (median of 5)",
            "-",
        )
    )
    return rows


def _dual_fisheye_quality(case: DualFisheyeCase, pano: np.ndarray) -> list[Row]:
    rows: list[Row] = []
    options: tuple[tuple[str, Callable[[], DualFisheyeRemapper]], ...] = (
        ("", DualFisheyeRemapper),
        (", sharpen=0 (plain bilinear)", lambda: DualFisheyeRemapper(sharpen=0.0)),
        (", INTER_CUBIC option", lambda: DualFisheyeRemapper(interpolation=cv2.INTER_CUBIC)),
    )
    for label, make in options:
        remapper = make()
        result = stitch_builtin(
            case.frame,
            make=None,
            model=None,
            profile=case.profile,
            out_width=4096,
            remapper=remapper,
        )
        ceiling = make().render(case.frame, exact_geometry(case), 4096, gains=exact_gains(case))
        for width in (4096, 1024) if not label else (4096,):
            sc = score(result.equirect, pano, width=width)
            top = score(ceiling, pano, width=width)
            rows.append(
                (
                    f"harness dual-fisheye (5760 frame, 4096 out, scored at {width}){label}; "
                    "ceiling = exact geometry and gains through the same render",
                    f"{sc.psnr_db:.2f} dB, SSIM {sc.ssim:.3f}, coverage {sc.coverage:.3f}, "
                    f"seam {result.details['seam_shift_px']} px, tile shift "
                    f"{sc.tile_shift_px:.2f} px (ceiling {top.psnr_db:.2f} dB, SSIM "
                    f"{top.ssim:.3f})",
                    ">= 35 dB, seam <= 1 px",
                )
            )
    return rows


def _real_frames() -> list[Row]:
    rows: list[Row] = []
    for name, file, make, model in (
        ("Gear 360", "gear360_extract_cynricfu.jpg", "SAMSUNG", "SM-C200"),
        ("Theta S", "thetaS_raw_jacoblange.jpg", "RICOH", "RICOH THETA S"),
    ):
        frame = cv2.imread(str(STITCHING / file), cv2.IMREAD_COLOR)
        c = time.process_time()
        found = stitch_builtin(
            frame, make=make, model=model, remapper=DualFisheyeRemapper()
        ).details
        cpu = time.process_time() - c
        rows.append(
            (
                f"{name} real frame {frame.shape[1]}x{frame.shape[0]}: seam shift, profile "
                "alone -> refined (px of the frame)",
                f"{found['seam_shift_before_px']} -> {found['seam_shift_px']} px "
                f"({found['seam_tiles']} tiles; lens 1 turned {found['seam_correction_deg']} "
                f"deg, centre moved {found['seam_centre_shift_px']} px), {cpu:.2f} s CPU",
                "< 4.7 px" if name == "Gear 360" else "-",
            )
        )
    return rows


def _multishot(pano: np.ndarray) -> list[Row]:
    size, hfov = (1280, 960), 75.0
    rows: list[Row] = []
    frames, poses = render_views(
        pano, rows=[(0.0, 8)], hfov_deg=hfov, size=size, rng=np.random.default_rng(7)
    )
    within = footprint(poses, hfov, size, 4096)
    t = time.perf_counter()
    ms = stitch_frames(frames, yaw_step_deg=45.0, out_width=4096)
    took = time.perf_counter() - t
    sc = score(ms.equirect, pano, width=4096, within=within)
    top = score(
        multishot_ceiling(frames, poses, hfov_deg=hfov, size=size, width=4096),
        pano,
        width=4096,
        within=within,
    )
    rows.append(
        (
            "harness multi-shot, 8 views 1280x960 one row, seed 7 (4096 out, scored at 4096); "
            "ceiling = true focal and poses through the same composer",
            f"{sc.psnr_db:.2f} dB, SSIM {sc.ssim:.3f}, coverage {sc.coverage:.3f}, "
            f"{len(ms.frames_used)}/8 used, {took:.1f} s, focal {ms.details['focal_px']} px "
            f"(ceiling {top.psnr_db:.2f} dB, SSIM {top.ssim:.3f})",
            ">= 32.8 dB, cov 1.0, 8/8",
        )
    )
    # The random exposures decide how much sky clips, which no stitcher recovers: other
    # draws move the ceiling by several dB, so the gap to it is the stitcher's score.
    pairs = []
    for seed in (8, 9, 10, 11):
        frames, poses = render_views(
            pano, rows=[(0.0, 8)], hfov_deg=hfov, size=size, rng=np.random.default_rng(seed)
        )
        within = footprint(poses, hfov, size, 4096)
        ms = stitch_frames(frames, yaw_step_deg=45.0, out_width=4096)
        ceiling = multishot_ceiling(frames, poses, hfov_deg=hfov, size=size, width=4096)
        pairs.append(
            (
                score(ms.equirect, pano, width=4096, within=within).psnr_db,
                score(ceiling, pano, width=4096, within=within).psnr_db,
            )
        )
    rows.append(
        (
            "same, exposure draws of seeds 8-11: stitch (ceiling) per seed",
            ", ".join(f"{a:.2f} ({b:.2f})" for a, b in pairs),
            "-",
        )
    )
    frames, poses = render_views(
        pano,
        rows=[(0.0, 8), (45.0, 6), (-45.0, 6)],
        hfov_deg=hfov,
        size=size,
        rng=np.random.default_rng(3),
    )
    within = footprint(poses, hfov, size, 4096)
    t = time.perf_counter()
    ms = stitch_frames(frames, poses=poses, out_width=4096)
    took = time.perf_counter() - t
    sc = score(ms.equirect, pano, width=4096, within=within)
    rig = ms.details["placed_from_rig"]
    rows.append(
        (
            "harness multi-shot, 3 rows 8+6+6 views, the head's programme given",
            f"{sc.psnr_db:.2f} dB, SSIM {sc.ssim:.3f}, coverage {sc.coverage:.3f}, "
            f"{len(ms.frames_used)}/20 used, {len(rig)} of them placed from the programme, "
            f"{took:.1f} s",
            "coverage >= 0.98, 20/20",
        )
    )
    try:
        stitch_frames(frames, out_width=1024)
        outcome = "stitched"
    except Exception as exc:  # noqa: BLE001 - the message is the row
        outcome = f"fails: {str(exc)[:90]}..."
    rows.append(("same 3 rows without the programme", outcome, "names the frames"))
    return rows


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    c, w = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c, time.perf_counter() - w


if __name__ == "__main__":
    main()
