"""The metadata stage: what the capture is, where it goes, and which version it makes.

Reads the sidecar, picks the image files, checks the first one's header (not an image, a
decompression bomb: quarantined before anything is decoded), reads its EXIF/GPano
metadata, places the scene against the site's registry and computes the scene version.
When that version's ``scene.json`` exists already, every stage up to the pointer swap is
skipped.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Final

from config.errors import QuarantineError
from ingest.files import too_large_reason
from ingest.image import HEAD_BYTES, check_format, check_size, probe_image, probe_image_file
from ingest.metadata import read_metadata
from ingest.sidecar import Sidecar, parse_sidecar
from ingest.sidecar_limits import MAX_SIDECAR_BYTES, sidecar_too_large
from workers.contract.keys import SceneKeys
from workers.contract.site import CameraLens
from workers.pipeline.job import Job
from workers.pipeline.stage import Context
from workers.pipeline.version import scene_version
from workers.sites.cameras import note, remembered_fits, remembered_lens
from workers.sites.registry import load_site
from workers.sites.tour_update import locate_scene
from workers.state.ledger import Capture, RawFile

#: The first stage: the runner enters it when it claims the capture.
METADATA = "metadata"
#: Names taken as images. ``.insp`` is an Insta360 photo: a JPEG with a vendor trailer.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".insp", ".tif", ".tiff", ".png")
#: Originals up to this size are read straight into memory; larger ones are streamed to a
#: temporary file first and read only once their header passed (see :func:`checked`).
IN_MEMORY_BYTES: Final = 64 * 1024 * 1024
#: Sidecar roles of files that are part of the panorama (None: the sidecar does not say).
IMAGE_ROLES = (None, "equirect", "fisheye", "dual_fisheye", "frame", "bracket")


class Metadata:
    """Sidecar, image files, metadata, placement and scene keys (module docstring)."""

    def done(self, job: Job, ctx: Context) -> bool:
        return False  # every job starts here

    def name(self, job: Job) -> str | None:
        return METADATA

    def run(self, job: Job, ctx: Context) -> None:
        capture = job.capture
        job.sidecar = sidecar = _sidecar(ctx, capture)
        job.images = image_files(capture, sidecar)
        job.first = checked(ctx, job.images[0])
        job.meta = read_metadata(job.first)
        job.placement = locate_scene(ctx.store, capture.site, sidecar, job.meta)
        job.policy = ctx.settings.blur_policy(capture.site)
        registry = load_site(ctx.store, capture.site)
        remembered = remembered_lens(registry, job.meta.make, _model(job))
        job.lens = capture.overrides.lens or (remembered.profile if remembered else None)
        if capture.overrides.lens is None:
            job.lens_note = note(remembered) if remembered is not None else None
            # Approved fits are matched to the frame once it is decoded (source stage).
            job.lens_fits = remembered_fits(registry, job.meta.make, _model(job))
        version = scene_version(
            capture, sidecar, settings=ctx.settings, inputs=ctx.inputs,
            lens=_lens_key(remembered, job.lens_fits),
        )  # fmt: skip
        job.keys = SceneKeys(capture.site, capture.scene, version)
        job.complete = ctx.store.exists(job.keys.manifest)
        if job.complete:
            ctx.ledger.note(capture.id, f"version {version} was complete already")


def _lens_key(remembered: CameraLens | None, fits: list[CameraLens]) -> str | None:
    """What the version hash takes of the remembered lens: its profile, and the fits' digest."""
    key = remembered.profile if remembered else None
    if fits:
        blob = json.dumps([[f.fit, f.frame and f.frame.model_dump()] for f in fits], sort_keys=True)
        key = f"{key or ''} fits {hashlib.sha256(blob.encode()).hexdigest()[:16]}"
    return key


def _model(job: Job) -> str | None:
    """The camera model a lens is chosen by: EXIF, else the sidecar's device name."""
    return job.need_meta().model or (job.sidecar.device if job.sidecar else None)


def checked(ctx: Context, file: RawFile) -> bytes:
    """An original's bytes, refused from its header if it is not an image or a bomb.

    Memory stays bounded: an original larger than ``max_file_bytes`` (archived before the
    limit was lowered) is refused by its recorded size, unread. One larger than
    :data:`IN_MEMORY_BYTES` has its first bytes checked (a ranged read: no image, HEIC,
    video... refused there), is then streamed to a temporary file and its header probed
    there (a bomb refused), so neither is read into memory; only an original that passes
    is read, and it is no larger than the limit.
    """
    limit = ctx.settings.max_file_bytes
    if file.size > limit:
        raise QuarantineError(too_large_reason(file.name, file.size, limit))
    if file.size <= IN_MEMORY_BYTES:
        data = ctx.store.get(file.key)
        info = probe_image(data, name=file.name)
        check_size(info, name=file.name, max_pixels=ctx.settings.max_input_pixels)
        return data
    check_format(ctx.store.get_head(file.key, HEAD_BYTES), name=file.name)  # no copy yet
    with tempfile.TemporaryDirectory(prefix="panodock-original-") as folder:
        path = Path(folder) / "original"
        ctx.store.get_file(file.key, path)
        info = probe_image_file(path, name=file.name)
        check_size(info, name=file.name, max_pixels=ctx.settings.max_input_pixels)
        return path.read_bytes()


def image_files(capture: Capture, sidecar: Sidecar | None) -> list[RawFile]:
    """The images of a capture, in name order (a rotating head's shooting order).

    Files the sidecar marks ``"role": "equirect"`` win alone; files it marks with a role
    other than an image role (e.g. ``"thumbnail"``) are left out. When no name looks like
    an image, the first other file is returned anyway: its content decides (a JPEG under
    another name is read; a HEIC, GIF or video gets the header probe's specific message).
    QuarantineError if the capture has no file besides its sidecar.
    """
    images = sorted(
        (f for f in capture.files if f.name.lower().endswith(IMAGE_SUFFIXES)),
        key=lambda f: f.name,
    )
    roles = {f.name: f.role for f in sidecar.files} if sidecar is not None else {}
    if sidecar is not None:
        tagged = [f for f in images if roles.get(f.name) == "equirect"]
        images = tagged or [f for f in images if roles.get(f.name) in IMAGE_ROLES]
    if not images:
        fallback = sorted(
            (
                f
                for f in capture.files
                if f.name != capture.sidecar and roles.get(f.name) in IMAGE_ROLES
            ),
            key=lambda f: f.name,
        )
        images = fallback[:1]
    if not images:
        others = [f.name for f in capture.files if f.name != capture.sidecar]
        raise QuarantineError(f"capture has no image file (found {', '.join(others) or 'nothing'})")
    return images


def _sidecar(ctx: Context, capture: Capture) -> Sidecar | None:
    if capture.sidecar is None:
        return None
    entry = next(f for f in capture.files if f.name == capture.sidecar)
    if entry.size > MAX_SIDECAR_BYTES:  # refused unread, as the intake does
        raise sidecar_too_large(entry.name, entry.size)
    return parse_sidecar(ctx.store.get(entry.key), name=entry.name)
