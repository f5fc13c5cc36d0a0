"""panodock against reference tools, paired runs of whole processes: one table.

``python -m tests.bench references [--image PATH] [--rounds N]``, from the repository root.

Every row is a child process on the same input. Each reference run is grouped with a
panodock run with blurring off and one with it on (the order turns each round); the ratio
columns are the medians over the groups of panodock's CPU divided by the reference's, so
load that comes and goes on this noisy machine hits every member of a group. Rows:

- panodock, warm worker: a worker process that has already published one 8K scene
  publishes a second (the figures are that job's: CPU of all its threads, wall, and the
  process's peak RSS), blurring off and on;
- Pannellum's ``generate.py`` with Hugin's ``nona`` (full multires cube, as a Pannellum
  site would publish): the script comes from the ``pannellum`` npm package (MIT licence),
  fetched into ``~/.cache/panodock-bench`` with ``npm pack`` at first use and never
  committed; nona from Debian's ``hugin-tools``; Pillow (a reportlab dependency);
- ``vips dzsave`` (Debian's ``libvips-tools``): a flat pyramid of the equirect, the floor
  of a tiler that does no cube remap;
- a bare decode and encode of the image at the same JPEG quality: the physical floor;
- ``cv2.Stitcher`` (panorama mode) against panodock's multi-shot stitcher on the
  lunchroom set of tests/data.

The input defaults to the sample panorama upscaled to 8192x4096 (a real photo; the
issue's measurements used the same). A missing tool is reported in its row, not skipped
silently.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[2]
PANO = ROOT / "tests" / "data" / "pannellum_examplepano.jpg"
LUNCHROOM = ROOT / "tests" / "data" / "stitching" / "lunchroom12"
PANNELLUM = "pannellum@2.5.7"
CACHE = Path.home() / ".cache" / "panodock-bench"
TIME = "/usr/bin/time"  # GNU time (Debian package "time")

#: A worker process: publish one scene to warm up, then time a second one of the same size.
_PANODOCK = r"""
import json, resource, shutil, sys, time
from pathlib import Path
from config.settings import load_settings
from tests.support.pipeline import Harness, file_candidate
image, work, redis_url, blur = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
harness = Harness(load_settings(data_dir=work / "data", redis_url=redis_url, blur=blur))
def publish(name):
    path = work / name
    shutil.copyfile(image, path)
    with open(path, "ab") as f:
        f.write(f"{work}/{name}".encode())  # new content each run: not a duplicate
    capture = harness.ingest(file_candidate(path))
    harness.drain()
    got = harness.app.ledger.get(capture)
    if got is None or got.state != "published":
        sys.exit(f"{name} was not published: {got and got.state}: {got and got.reason}")
publish("warmup.jpg")
before, t = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
publish("timed.jpg")
after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - t
cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
print(json.dumps({"cpu": cpu, "wall": wall}))
"""

#: generate.py 2.5.7 uses Image.ANTIALIAS, which Pillow 10 renamed LANCZOS (same filter).
_GENERATE = r"""
import runpy, sys
from PIL import Image
if not hasattr(Image, "ANTIALIAS"):
    Image.ANTIALIAS = Image.LANCZOS
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""

_FLOOR = r"""
import sys, cv2
image = cv2.imread(sys.argv[1], cv2.IMREAD_COLOR)
cv2.imwrite(sys.argv[2], image, [cv2.IMWRITE_JPEG_QUALITY, int(sys.argv[3])])
"""

_PANODOCK_STITCH = r"""
import glob, sys, cv2
from stitching.frames import Frame
from stitching.multishot import stitch_frames
files = sorted(glob.glob(sys.argv[1] + "/img*.jpg"))
frames = [Frame(name=f.rsplit("/", 1)[-1], image=cv2.imread(f)) for f in files]
stitch_frames(frames, yaw_step_deg=30.0)
"""

_CV2_STITCH = r"""
import glob, sys, cv2
images = [cv2.imread(f) for f in sorted(glob.glob(sys.argv[1] + "/img*.jpg"))]
status, _ = cv2.Stitcher_create(cv2.Stitcher_PANORAMA).stitch(images)
print("status", status)
"""


@dataclass
class Run:
    cpu: float
    wall: float
    rss_mb: float


@dataclass
class Row:
    name: str
    runs: list[Run] = field(default_factory=list)
    #: panodock's CPU over this row's, per paired run: blurring off, and on.
    ratios_off: list[float] = field(default_factory=list)
    ratios_on: list[float] = field(default_factory=list)
    note: str = ""

    def cells(self) -> list[str]:
        if not self.runs:
            return [self.name, "-", "-", "-", "-", "-", self.note]
        med = statistics.median

        def ratio(values: list[float]) -> str:
            return f"{med(values):.3f}x" if values else ""

        return [
            self.name,
            f"{med(r.cpu for r in self.runs):.2f}",
            f"{med(r.wall for r in self.runs):.2f}",
            f"{max(r.rss_mb for r in self.runs):.0f}",
            ratio(self.ratios_off),
            ratio(self.ratios_on),
            self.note,
        ]


def measure(cmd: Sequence[str], *, cwd: Path = ROOT) -> Run:
    """Run ``cmd`` under GNU time: CPU (with the children it waited for), wall, peak RSS.

    Through ``/usr/bin/time`` (Debian's ``time``) rather than our own ``wait4``: a child
    forked from this process would count this process's size in its peak RSS.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        done = subprocess.run(
            [TIME, "-f", "%e %U %S %M", "-o", report.name, *cmd],
            cwd=cwd, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{cmd[0]} exited {done.returncode}: {done.stderr[-800:]}")
        wall, user, system, rss_kb = report.read().split()[-4:]
    rss_mb = int(rss_kb) / 1024
    reported = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if reported.startswith("{"):  # the panodock child times its second job itself
        own = json.loads(reported)
        return Run(own["cpu"], own["wall"], rss_mb)
    return Run(float(user) + float(system), float(wall), rss_mb)


def generate_py() -> Path | str:
    """Pannellum's generate.py from its npm package (cached), or why it is unavailable."""
    script = CACHE / PANNELLUM / "package" / "utils" / "multires" / "generate.py"
    if script.exists():
        return script
    if shutil.which("npm") is None:
        return "npm is not installed (it fetches Pannellum's generate.py)"
    target = CACHE / PANNELLUM
    target.mkdir(parents=True, exist_ok=True)
    packed = subprocess.run(
        ["npm", "pack", PANNELLUM], cwd=target, capture_output=True, text=True, check=False
    )
    tarball = next(target.glob("pannellum-*.tgz"), None)
    if packed.returncode != 0 or tarball is None:
        return f"npm pack {PANNELLUM} failed: {packed.stderr.strip()[-200:]}"
    shutil.unpack_archive(tarball, target)
    return script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, help="an equirect JPEG (default: 8K sample)")
    parser.add_argument("--rounds", type=int, default=3, help="pairs per reference")
    parser.add_argument("--quality", type=int, default=None, help="JPEG quality (settings')")
    args = parser.parse_args()

    from config.settings import load_settings
    from workers.service.redis_server import RedisServer, free_port

    quality = args.quality or load_settings().jpeg_quality
    with tempfile.TemporaryDirectory(prefix="panodock-refs-") as tmp:
        work = Path(tmp)
        image = args.image or _upscaled_sample(work / "input.jpg")
        height, width = cv2.imread(str(image), cv2.IMREAD_REDUCED_GRAYSCALE_8).shape[:2]
        redis = RedisServer(work / "redis", port=free_port())
        redis.start()
        try:
            rows = _run_all(args, work, image, quality, redis.url)
        finally:
            redis.stop()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    source = image.name if args.image else "sample panorama upscaled"
    print(f"input: {source} ({width * 8}x{height * 8}), JPEG quality {quality}, "
          f"{args.rounds} rounds per row, load average {load}, {os.cpu_count()} CPUs")  # fmt: skip
    print()
    print("| row | CPU s | wall s | peak RSS MB | panodock CPU / row's, blur off | "
          "blur on | note |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---|")
    for row in rows:
        print("| " + " | ".join(row.cells()) + " |")


def _upscaled_sample(path: Path) -> Path:
    source = cv2.imread(str(PANO), cv2.IMREAD_COLOR)
    big = cv2.resize(source, (8192, 4096), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return path


def _run_all(
    args: argparse.Namespace, work: Path, image: Path, quality: int, redis_url: str
) -> list[Row]:
    py = sys.executable
    runs = iter(range(10_000))

    def panodock(blur: str) -> list[str]:
        job = work / f"pd{next(runs)}"
        job.mkdir()
        return [py, "-c", _PANODOCK, str(image), str(job), redis_url, blur]

    def out_dir() -> Path:
        path = work / f"out{next(runs)}"
        path.mkdir()
        return path

    script = generate_py()
    references: list[tuple[Row, object]] = []
    if isinstance(script, Path) and shutil.which("nona"):
        references.append((
            Row("Pannellum generate.py + nona (full multires cube)"),
            lambda: [py, "-c", _GENERATE, str(script), "-n", shutil.which("nona") or "nona",
                     "-q", str(quality), "-o", str(out_dir() / "gen"), str(image)],
        ))  # fmt: skip
    else:
        reason = script if isinstance(script, str) else "nona missing: apt install hugin-tools"
        references.append((Row("Pannellum generate.py + nona", note=reason), None))
    if shutil.which("vips"):
        references.append((
            Row("vips dzsave (flat equirect pyramid)"),
            lambda: ["vips", "dzsave", str(image), str(out_dir() / "dz"),
                     "--tile-size", "512", "--suffix", f".jpg[Q={quality}]"],
        ))  # fmt: skip
    else:
        references.append((Row("vips dzsave", note="apt install libvips-tools"), None))
    references.append((
        Row("bare decode + encode (physical floor)"),
        lambda: [py, "-c", _FLOOR, str(image), str(out_dir() / "x.jpg"), str(quality)],
    ))  # fmt: skip

    off = Row("panodock, warm worker, blurring off")
    on = Row("panodock, warm worker, blurring on")
    rows = [off, on]
    for row, command in references:
        rows.append(row)
        if command is None:
            continue
        for i in range(args.rounds):  # a triplet; the order turns each round
            group = [
                ("off", panodock("off")),
                ("on", panodock("required")),
                ("ref", command()),  # type: ignore[operator]
            ]
            group = group[i % 3 :] + group[: i % 3]
            got = {who: measure(cmd) for who, cmd in group}
            off.runs.append(got["off"])
            on.runs.append(got["on"])
            row.runs.append(got["ref"])
            row.ratios_off.append(got["off"].cpu / got["ref"].cpu)
            row.ratios_on.append(got["on"].cpu / got["ref"].cpu)
            print(f"  {row.name}: round {i + 1}/{args.rounds} done", file=sys.stderr)

    ours = Row("panodock multi-shot stitcher, lunchroom 12 frames")
    theirs = Row("cv2.Stitcher (PANORAMA), same frames")
    for i in range(args.rounds):
        pair = [
            ("pd", [py, "-c", _PANODOCK_STITCH, str(LUNCHROOM)]),
            ("cv", [py, "-c", _CV2_STITCH, str(LUNCHROOM)]),
        ]
        if i % 2:
            pair.reverse()
        got = {who: measure(cmd) for who, cmd in pair}
        ours.runs.append(got["pd"])
        theirs.runs.append(got["cv"])
        theirs.ratios_off.append(got["pd"].cpu / got["cv"].cpu)
    return [*rows, ours, theirs]


if __name__ == "__main__":
    main()
