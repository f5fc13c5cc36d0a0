"""Bulk operations: import a folder once, re-publish a whole site."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from config.settings import Settings
from tests.conftest import jpeg_bytes
from tests.support.pipeline import Harness, folder_candidate, write_folder
from workers.ops.bulk import import_folder, republish_site, site_scenes
from workers.state.ledger import State


def test_a_folder_is_imported_once_with_progress(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes, pano: np.ndarray
) -> None:
    harness = Harness(settings)
    card = tmp_path / "card"
    card.mkdir()
    (card / "R0010001.JPG").write_bytes(small_pano_jpeg)
    other = cv2.resize(cv2.flip(pano, 1), (1024, 512))
    (card / "R0010002.JPG").write_bytes(jpeg_bytes(other))
    write_folder(
        card / "gym", {"pano.jpg": jpeg_bytes(np.roll(other, 100, axis=1))}, {"scene": "gym"}
    )
    seen: list[str] = []
    kwargs = dict(intake=harness.intake, spool_root=tmp_path / "spool", site="campus")
    ids = import_folder(card, on_capture=seen.append, **kwargs)  # type: ignore[arg-type]
    assert len(set(ids)) == 3 and seen == ids, "every capture reported as it arrives"
    assert sorted(harness.queued) == sorted(set(ids))
    scenes = {harness.app.ledger.get(i).scene for i in ids}
    assert "gym" in scenes
    assert {harness.app.ledger.get(i).site for i in ids} == {"campus"}
    again = import_folder(card, **kwargs)  # type: ignore[arg-type]
    assert again == [] and len(harness.queued) == 3, "a second import brings nothing new"


def test_republishing_a_site_queues_every_live_scene(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    harness = Harness(settings)
    base = cv2.imdecode(np.frombuffer(small_pano_jpeg, np.uint8), cv2.IMREAD_COLOR)
    for shift, name in enumerate(("hall", "lab")):
        image = {"pano.jpg": jpeg_bytes(np.roll(base, 200 * shift, axis=1))}
        folder = write_folder(tmp_path / name, image, {"site": "campus", "scene": name})
        harness.ingest(folder_candidate(folder))
    harness.drain()
    store = harness.store
    assert site_scenes(store, "campus") == ["hall", "lab"]
    progress: list[str] = []
    queued = republish_site(harness.app, store, "campus", on_scene=progress.append)
    assert progress == ["hall", "lab"] and len(queued) == 2
    assert all(harness.app.ledger.get(c.id).state == State.QUEUED for c in queued)
    assert republish_site(harness.app, store, "campus") == [], "already queued: not twice"
