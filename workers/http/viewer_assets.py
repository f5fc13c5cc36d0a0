"""The web viewers of the scene page, installed from npm into a cache directory.

``package.json`` and ``package-lock.json`` next to this module pin Pannellum, Marzipano,
Photo Sphere Viewer and three.js (the versions verified in BRIEF.md). ``npm ci`` installs
exactly the locked versions, checked against the lock's integrity hashes, into
``<cache>/<hash of the lock>/node_modules``; a changed lock gets a fresh directory, and an
unchanged one is installed once. The service serves those files itself: the scene page never
loads anything from a CDN.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path
from typing import Final

from config.errors import InfrastructureError

LOCK_FILES: Final = ("package.json", "package-lock.json")

#: URL path (under /vendor) -> file inside node_modules: everything the pages load.
VENDOR_FILES: Final = {
    "pannellum/pannellum.js": "pannellum/build/pannellum.js",
    "pannellum/pannellum.css": "pannellum/build/pannellum.css",
    "marzipano/marzipano.js": "marzipano/dist/marzipano.js",
    "three/three.module.js": "three/build/three.module.js",
    "three/three.core.js": "three/build/three.core.js",
    "psv/core.js": "@photo-sphere-viewer/core/index.module.js",
    "psv/core.css": "@photo-sphere-viewer/core/index.css",
    "psv/cubemap-adapter.js": "@photo-sphere-viewer/cubemap-adapter/index.module.js",
    "psv/cubemap-tiles-adapter.js": "@photo-sphere-viewer/cubemap-tiles-adapter/index.module.js",
}

_DONE = ".installed"


class ViewersUnavailable(InfrastructureError):
    """The pinned web viewers could not be installed (npm missing or the registry failed)."""


def lock_digest() -> str:
    """Short hash of the pinned package files: the name of their install directory."""
    h = hashlib.sha256()
    for name in LOCK_FILES:
        h.update(resources.files(__package__).joinpath(name).read_bytes())
    return h.hexdigest()[:16]


def install_viewers(cache_dir: Path, *, npm: str = "npm", timeout: float = 300.0) -> Path:
    """Install the pinned viewers under ``cache_dir`` unless already there.

    Returns the ``node_modules`` directory. Safe to call from several processes: each
    installs into its own temporary directory and the first rename wins.

    Raises
    ------
    ViewersUnavailable
        npm is not on PATH, or ``npm ci`` failed (its output is in the message).
    """
    target = Path(cache_dir) / lock_digest()
    modules = target / "node_modules"
    if (target / _DONE).exists():
        return modules
    exe = shutil.which(npm)
    if exe is None:
        raise ViewersUnavailable(
            f"cannot install the scene page viewers: {npm!r} is not on PATH; install Node.js "
            "(Debian: apt-get install npm) or copy a node_modules built elsewhere into "
            f"{modules}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".install-", dir=target.parent))
    try:
        for name in LOCK_FILES:
            (work / name).write_bytes(resources.files(__package__).joinpath(name).read_bytes())
        done = subprocess.run(
            [exe, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise ViewersUnavailable(
                f"npm ci of the scene page viewers failed (exit {done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-800:]}"
            )
        missing = [f for f in VENDOR_FILES.values() if not (work / "node_modules" / f).is_file()]
        if missing:
            raise ViewersUnavailable(f"npm ci installed no {', '.join(missing)}")
        (work / _DONE).write_text("ok\n")
        try:
            work.rename(target)
        except OSError:
            if not (target / _DONE).exists():
                raise
        return modules
    except subprocess.TimeoutExpired as exc:
        raise ViewersUnavailable(f"npm ci did not finish in {timeout:.0f} s") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
