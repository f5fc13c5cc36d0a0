"""Every benchmark in one run, one after another, each in its own process: ``all``.

``python -m tests.bench all [--skip NAME ...]`` prints each benchmark's table under its
name, with the load average before and after it (the machine is shared and noisy; a row
measured under load says so). ``references`` (panodock against generate.py, vips dzsave,
a bare decode + encode and cv2.Stitcher) comes first.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.bench.__main__ import names

ROOT = Path(__file__).resolve().parents[2]
FIRST = ("references",)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", nargs="*", default=[], help="benchmarks to leave out")
    args = parser.parse_args()
    order = [n for n in FIRST if n in names()] + [
        n for n in names() if n not in FIRST and n != "all"
    ]
    failed = []
    for name in order:
        if name in args.skip:
            continue
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"\n## {name} (load average before: {load})\n", flush=True)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "tests.bench", name], cwd=ROOT, check=False)
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"\n({name}: {time.perf_counter() - start:.0f} s, exit {done.returncode}, "
              f"load average after: {load})", flush=True)  # fmt: skip
        if done.returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0
