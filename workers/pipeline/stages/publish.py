"""The publish stages: ``scene.json``, then the pointer, then the site's tour.

``scene.json`` is written after every tile and preview, so its presence means the version
is complete (and the source checkpoint, if any, is no longer needed). ``current.json`` is
swapped with a conditional write and never goes back in time; the tour is updated only
when this version went live.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from config.settings import Settings
from ingest.sidecar import Sidecar
from workers.contract.keys import SceneKeys
from workers.contract.scene import CurrentPointer, Privacy, SceneManifest, SourceFile
from workers.contract.tour import Placement
from workers.contract.viewers import viewer_configs
from workers.pipeline import checkpoint
from workers.pipeline.job import Job
from workers.pipeline.stage import Context
from workers.pipeline.version import PIPELINE_VERSION
from workers.sites.tour_index import indexer_for
from workers.sites.tour_update import scene_metadata, tour_entry
from workers.state.ledger import Capture
from workers.store.base import ObjectStore
from workers.store.conditional import update_object

log = logging.getLogger(__name__)


class WriteManifest:
    """Write ``scene.json`` for the tiles and previews just written."""

    def done(self, job: Job, ctx: Context) -> bool:
        return job.complete

    def name(self, job: Job) -> str | None:
        return "publish"

    def run(self, job: Job, ctx: Context) -> None:
        job.manifest = manifest(job)
        key = job.need_keys().manifest
        ctx.store.put(key, job.manifest.to_json(), content_type="application/json")


class DropCheckpoint:
    """Remove the source checkpoint an earlier attempt left, now that scene.json exists."""

    def done(self, job: Job, ctx: Context) -> bool:
        # A first attempt that wrote scene.json never had a checkpoint: nothing to ask.
        return not (job.restored or job.complete)

    def name(self, job: Job) -> str | None:
        return None

    def run(self, job: Job, ctx: Context) -> None:
        keys = job.need_keys()
        try:
            checkpoint.delete(ctx.store, keys)
        except Exception:  # the version is complete: gc removes what is left
            log.warning("could not remove the checkpoint of %s", keys.prefix, exc_info=True)


class SwapPointer:
    """Point ``current.json`` at this version, unless a newer capture of the scene is live."""

    def done(self, job: Job, ctx: Context) -> bool:
        # A retry after scene.json still has to make sure of the pointer; a held version
        # (workers.pipeline.review) is not made live.
        return job.review is not None

    def name(self, job: Job) -> str | None:
        return None  # part of publishing (or of the metadata stage when nothing was left)

    def run(self, job: Job, ctx: Context) -> None:
        job.live, job.outcome = swap_pointer(ctx.store, job.need_keys(), job.capture)


class Tour:
    """Store the scene's tour entry; its site's tour.json is rebuilt a moment later."""

    def done(self, job: Job, ctx: Context) -> bool:
        return not job.live

    def name(self, job: Job) -> str | None:
        return "tour"

    def run(self, job: Job, ctx: Context) -> None:
        keys = job.need_keys()
        if job.manifest is None:  # written by an earlier attempt
            job.manifest = SceneManifest.model_validate_json(ctx.store.get(keys.manifest))
        if job.placement is None:
            raise RuntimeError(f"capture {job.id}: the metadata stage placed no scene")
        update_tour(ctx.store, ctx.settings, job.manifest, job.sidecar, job.placement)


def update_tour(
    store: ObjectStore,
    settings: Settings,
    manifest: SceneManifest,
    sidecar: Sidecar | None,
    placement: Placement,
) -> None:
    """Store a live version's tour entry (also what approving a held version does)."""
    entry = tour_entry(manifest, sidecar, placement)
    indexer = indexer_for(store, debounce_seconds=settings.tour_debounce_seconds)
    indexer.publish(manifest.site, entry)


def manifest(job: Job) -> SceneManifest:
    """The scene.json of a job whose source, tiles and previews are done."""
    capture, keys, source, meta = job.capture, job.need_keys(), job.need_source(), job.need_meta()
    if job.tiles is None or job.previews is None or job.placement is None:
        raise RuntimeError(f"capture {job.id}: scene.json needs the tiles and previews first")
    equirect = source.equirect
    device = " ".join(p for p in (meta.make, meta.model) if p) or None
    sidecar = job.sidecar
    captured_at = (sidecar.captured_at if sidecar else None) or meta.datetime_original
    return SceneManifest(
        site=capture.site,
        scene=capture.scene,
        version=keys.version,
        base=keys.prefix,
        capture_id=capture.id,
        created_at=datetime.now(UTC),
        captured_at=captured_at,
        device=device,
        pipeline=PIPELINE_VERSION,
        sources=[SourceFile(name=f.name, sha256=f.sha256, key=f.key) for f in capture.files],
        source_size=(int(equirect.shape[1]), int(equirect.shape[0])),
        kind=source.kind,
        partial=source.partial,
        incomplete=bool(source.frames_unplaced),
        frames_unplaced=source.frames_unplaced,
        levelling=job.levelling,
        heading=job.heading,
        privacy=job.privacy or Privacy(blurred=False, policy="off"),
        tiles=job.tiles.tileset,
        preview=job.previews.preview,
        thumb=job.previews.thumb,
        equirect=job.previews.equirect,
        viewers=viewer_configs(keys, job.tiles.tileset, job.heading.heading_deg, job.coverage),
        metadata=_public_metadata(sidecar) | scene_metadata(job.placement, sidecar),
        stitch=source.details or None,
        brackets=source.brackets,
        warnings=list(meta.warnings) + source.warnings,
        checks=job.checks,
        coverage=job.coverage,
    )


def swap_pointer(
    store: ObjectStore, keys: SceneKeys, capture: Capture, attempts: int = 5
) -> tuple[bool, str]:
    """Point current.json at this version with a conditional write (never torn).

    A pointer never goes back in time: if a capture received later than this one is
    live already (a re-shoot of the same scene, processed faster), it stays live.
    Returns whether this version is live, and what happened, for the ledger.
    """
    pointer = CurrentPointer(
        site=keys.site,
        scene=keys.scene,
        version=keys.version,
        manifest=keys.manifest,
        capture_id=capture.id,
        capture_received_at=capture.created_at,
        published_at=datetime.now(UTC),
    )
    outcome = (True, f"published {keys.prefix}")

    def swap(current: bytes | None) -> bytes | None:
        nonlocal outcome
        outcome = (True, f"published {keys.prefix}")
        if current is None:
            return pointer.to_json()
        live = CurrentPointer.model_validate_json(current)
        if live.version == keys.version:
            outcome = (True, f"{keys.current} already points at {keys.version}")
            return None
        if live.capture_received_at > capture.created_at:
            outcome = (False, (
                f"version {keys.version} is complete but not live: capture "
                f"{live.capture_id[:12]} of this scene is newer and stays live"
            ))  # fmt: skip
            return None
        return pointer.to_json()

    update_object(store, keys.current, swap, attempts=attempts)
    return outcome


def _public_metadata(sidecar: Sidecar | None) -> dict[str, object]:
    """What of the metadata goes into scene.json: it is public, so no GPS, no operator."""
    out: dict[str, object] = {}
    if sidecar is not None:
        for name in ("building", "floor", "room"):
            value = getattr(sidecar, name, None)
            if value is not None:
                out[name] = value
    return out
