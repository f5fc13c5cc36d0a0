"""The metadata stage: what the capture is, where it goes, and which version it makes.

Reads the sidecar, picks the image files, checks the first one's header (not an image, a
decompression bomb: quarantined before anything is decoded), reads its EXIF/GPano
metadata, places the scene against the site's registry and computes the scene version.
When that version's ``scene.json`` exists already, every stage up to the pointer swap is
skipped.
"""

from __future__ import annotations

from config.errors import QuarantineError
from ingest.image import check_size, probe_image
from ingest.metadata import read_metadata
from ingest.sidecar import Sidecar, parse_sidecar
from workers.contract.keys import SceneKeys
from workers.pipeline.job import Job
from workers.pipeline.stage import Context
from workers.pipeline.version import scene_version
from workers.sites.tour_update import locate_scene
from workers.state.ledger import Capture, RawFile

#: The first stage: the runner enters it when it claims the capture.
METADATA = "metadata"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".tif", ".tiff", ".png")
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
        version = scene_version(capture, sidecar, settings=ctx.settings, inputs=ctx.inputs)
        job.keys = SceneKeys(capture.site, capture.scene, version)
        job.complete = ctx.store.exists(job.keys.manifest)
        if job.complete:
            ctx.ledger.note(capture.id, f"version {version} was complete already")


def checked(ctx: Context, file: RawFile) -> bytes:
    """An original's bytes, refused from its header if it is not an image or a bomb."""
    data = ctx.store.get(file.key)
    info = probe_image(data, name=file.name)
    check_size(info, name=file.name, max_pixels=ctx.settings.max_input_pixels)
    return data


def image_files(capture: Capture, sidecar: Sidecar | None) -> list[RawFile]:
    """The images of a capture, in name order (a rotating head's shooting order).

    Files the sidecar marks ``"role": "equirect"`` win alone; files it marks with a role
    other than an image role (e.g. ``"thumbnail"``) are left out. QuarantineError if none.
    """
    images = sorted(
        (f for f in capture.files if f.name.lower().endswith(IMAGE_SUFFIXES)),
        key=lambda f: f.name,
    )
    if sidecar is not None:
        roles = {f.name: f.role for f in sidecar.files}
        tagged = [f for f in images if roles.get(f.name) == "equirect"]
        images = tagged or [f for f in images if roles.get(f.name) in IMAGE_ROLES]
    if not images:
        others = [f.name for f in capture.files if f.name != capture.sidecar]
        raise QuarantineError(f"capture has no image file (found {', '.join(others) or 'nothing'})")
    return images


def _sidecar(ctx: Context, capture: Capture) -> Sidecar | None:
    if capture.sidecar is None:
        return None
    entry = next(f for f in capture.files if f.name == capture.sidecar)
    return parse_sidecar(ctx.store.get(entry.key))
