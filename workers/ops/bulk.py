"""Operations over many captures at once: import a folder, re-publish a site.

Both report progress through a callback (the CLI draws a progress bar with it) and reuse
the machinery of the service: a folder is imported by one :class:`ShareSource` run over it
until a scan finds nothing new (copy with proof, grouping rule, the intake's dedupe), and
a scene is re-published the way the status service's action does it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from config.errors import ConfigError, ObjectNotFound
from ingest.candidates import Candidate
from ingest.intake import Intake
from ingest.sources.share import ShareSource
from workers.contract.keys import current_key
from workers.contract.scene import CurrentPointer
from workers.queue.actors import App
from workers.state.ledger import Capture, State
from workers.store.base import ObjectStore

Progress = Callable[[str], None]


def import_folder(
    folder: Path,
    *,
    intake: Intake,
    spool_root: Path,
    site: str,
    on_capture: Progress = lambda capture_id: None,
) -> list[str]:
    """Import every capture under ``folder`` once; returns the capture ids, new or known.

    Files are grouped as on a share: a folder with ``capture.json`` is one capture, other
    files by the documented rule (ingest/sources/grouping.py).
    """
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder")
    ids: list[str] = []

    def deliver(candidate: Candidate) -> str:
        capture_id = intake(candidate)
        ids.append(capture_id)
        on_capture(capture_id)
        return capture_id

    source = ShareSource(
        f"import-{folder.name or 'root'}",
        folder,
        stable_seconds=0.0,  # a one-off import of files that are already there
        require_mount=False,
        deliver=deliver,
        spool_root=spool_root,
        site=site,
    )
    quiet = 0
    while quiet < 2:  # a capture folder is complete once its sidecar is seen twice unchanged
        quiet = quiet + 1 if source.scan() == 0 else 0
    return ids


def republish_scene(app: App, store: ObjectStore, site: str, scene: str) -> Capture | None:
    """Queue the live capture of a scene again; None when it is not published right now."""
    try:
        pointer = CurrentPointer.model_validate_json(store.get(current_key(site, scene)))
    except ObjectNotFound:
        return None
    moved = app.ledger.transition(
        pointer.capture_id, State.QUEUED, expect={State.PUBLISHED}, detail="re-publish requested"
    )
    if moved is not None:
        app.enqueue(pointer.capture_id)
    return moved


def site_scenes(store: ObjectStore, site: str) -> list[str]:
    """The published scenes of a site (those with a current.json)."""
    prefix = f"scenes/{site}/"
    return sorted(
        key[len(prefix) :].split("/")[0]
        for key in store.list(prefix)
        if key.endswith("/current.json") and key.count("/") == 3
    )


def republish_site(
    app: App, store: ObjectStore, site: str, *, on_scene: Progress = lambda scene: None
) -> list[Capture]:
    """Queue every published scene of a site again (after a pipeline or setting change)."""
    queued = []
    for scene in site_scenes(store, site):
        moved = republish_scene(app, store, site, scene)
        if moved is not None:
            queued.append(moved)
        on_scene(scene)
    return queued
