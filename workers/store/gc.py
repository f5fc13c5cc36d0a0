"""Garbage collection of scene versions that no pointer references.

A version is kept when ``current.json`` points at it, or when anything in it was written
within the grace period (a job may be writing it right now, or a viewer may still be
reading the version that was live a minute ago). Everything else under
``scenes/<site>/<scene>/<version>/`` is deleted — only with ``apply=True``; the default is
a dry run that reports what would go.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from config.errors import ObjectNotFound
from workers.contract.keys import current_key
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


def collect(
    store: ObjectStore, *, grace_seconds: float, apply: bool = False, now: float | None = None
) -> list[Unreferenced]:
    """Find (and with ``apply`` delete) versions past the grace period that nothing points to."""
    now = time.time() if now is None else now
    versions: dict[tuple[str, str, str], list[ObjectInfo]] = defaultdict(list)
    for info in store.list_info("scenes/"):
        parts = info.key.split("/")
        if len(parts) >= 5:  # scenes/<site>/<scene>/<version>/<...>
            versions[(parts[1], parts[2], parts[3])].append(info)
    live: dict[tuple[str, str], str | None] = {}
    found = []
    for (site, scene, version), objects in sorted(versions.items()):
        if (site, scene) not in live:
            live[(site, scene)] = _live_version(store, site, scene)
        if live[(site, scene)] == version:
            continue
        newest = max((o.modified or now) for o in objects)
        age = now - newest
        if age < grace_seconds:
            continue
        if apply:
            for obj in objects:
                store.delete(obj.key)
        found.append(
            Unreferenced(
                site=site,
                scene=scene,
                version=version,
                objects=len(objects),
                bytes=sum(o.size for o in objects),
                age_seconds=age,
                deleted=apply,
            )
        )
    return found


def _live_version(store: ObjectStore, site: str, scene: str) -> str | None:
    try:
        return CurrentPointer.model_validate_json(store.get(current_key(site, scene))).version
    except ObjectNotFound:
        return None
