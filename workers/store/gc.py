"""Garbage collection of scene versions that no pointer references, and stale checkpoints.

A version is kept when ``current.json`` points at it, or when anything in it was written
within the grace period (a job may be writing it right now, or a viewer may still be
reading the version that was live a minute ago). Everything else under
``scenes/<site>/<scene>/<version>/`` is deleted — only with ``apply=True``; the default is
a dry run that reports what would go.

A pipeline checkpoint (``work/<site>/<scene>/<version>/``, see
workers/pipeline/checkpoint.py) is deleted by the job that publishes its version; one
older than the grace period belongs to a job that never came back, and goes too. A version
held for review (``work/.../review.json``, see workers/pipeline/review.py) is kept whole
until a person decided.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

from config.errors import ObjectNotFound
from workers.contract.keys import REVIEW_RECORD, current_key
from workers.contract.scene import CurrentPointer
from workers.store.base import ObjectInfo, ObjectStore


@dataclass(frozen=True, slots=True)
class Unreferenced:
    """One version no pointer references."""

    site: str
    scene: str
    version: str
    objects: int
    bytes: int
    age_seconds: float
    deleted: bool
    kind: Literal["version", "checkpoint"] = "version"

    @property
    def prefix(self) -> str:
        """The prefix that holds (or held) it, e.g. ``scenes/<site>/<scene>/<version>/``."""
        root = "scenes" if self.kind == "version" else "work"
        return f"{root}/{self.site}/{self.scene}/{self.version}/"


def collect(
    store: ObjectStore, *, grace_seconds: float, apply: bool = False, now: float | None = None
) -> list[Unreferenced]:
    """Find (and with ``apply`` delete) versions past the grace period that nothing points to,
    and checkpoints past the grace period; versions first, then checkpoints."""
    now = time.time() if now is None else now
    live: dict[tuple[str, str], str | None] = {}
    found: list[Unreferenced | None] = []
    work = _grouped(store, "work/")
    # A version waiting for review (its review.json exists) is kept, work/ and scenes/.
    held = {
        place for place, objects in work
        if any(o.key.endswith("/" + REVIEW_RECORD) for o in objects)
    }  # fmt: skip
    for (site, scene, version), objects in _grouped(store, "scenes/"):
        if (site, scene) not in live:
            live[(site, scene)] = _live_version(store, site, scene)
        if live[(site, scene)] != version and (site, scene, version) not in held:
            found.append(_stale(store, (site, scene, version), objects, grace_seconds, apply, now))
    for place, objects in work:
        if place not in held:
            found.append(_stale(store, place, objects, grace_seconds, apply, now, "checkpoint"))
    return [f for f in found if f is not None]


def _grouped(store: ObjectStore, root: str) -> list[tuple[tuple[str, str, str], list[ObjectInfo]]]:
    """The objects under ``<root><site>/<scene>/<version>/``, by (site, scene, version)."""
    groups: dict[tuple[str, str, str], list[ObjectInfo]] = defaultdict(list)
    for info in store.list_info(root):
        parts = info.key.split("/")
        if len(parts) >= 5:  # <root>/<site>/<scene>/<version>/<...>
            groups[(parts[1], parts[2], parts[3])].append(info)
    return sorted(groups.items())


def _stale(
    store: ObjectStore,
    place: tuple[str, str, str],
    objects: list[ObjectInfo],
    grace_seconds: float,
    apply: bool,
    now: float,
    kind: Literal["version", "checkpoint"] = "version",
) -> Unreferenced | None:
    """The group, if its newest object is past the grace period (deleted with ``apply``)."""
    age = now - max((o.modified or now) for o in objects)
    if age < grace_seconds:
        return None
    if apply:
        for obj in objects:
            store.delete(obj.key)
    site, scene, version = place
    return Unreferenced(
        site=site,
        scene=scene,
        version=version,
        objects=len(objects),
        bytes=sum(o.size for o in objects),
        age_seconds=age,
        deleted=apply,
        kind=kind,
    )


def _live_version(store: ObjectStore, site: str, scene: str) -> str | None:
    try:
        return CurrentPointer.model_validate_json(store.get(current_key(site, scene))).version
    except ObjectNotFound:
        return None
