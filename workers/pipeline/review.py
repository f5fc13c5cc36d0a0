"""Review: whether a rendered scene version goes live, waits for a person, or fails.

The decision is :func:`decide`, pure: a version's checks (``scene.json`` ``checks``, see
:class:`workers.contract.scene.Check`) and the review policy of its site give

- ``fail`` when any check failed (e.g. the privacy search did not cover the sphere): never
  published, whatever the policy or an approval; the capture fails with the check's message;
- ``publish`` when a person approved this very version, when the policy is ``never``, or
  when it is ``on_warning`` (the default) and no check warned; a check whose verdict is
  ``review`` (e.g. a lens that could not be fitted) holds the version under every policy,
  ``never`` included, until a person approves it;
- ``hold`` otherwise: the version is rendered and stored under its prefix but not live (no
  ``current.json`` swap, no tour entry); the capture's state is ``review`` with the
  warnings as its reason.

The policy is the site registry's ``review`` (``panodock review policy``), else
``PANODOCK_REVIEW``. A held version leaves a private record next to its checkpoint, in
``work/<site>/<scene>/<version>/``: ``review.json`` (why, when, the checks and the
placement a publish will use) and ``faces.json`` (the boxes the detector found, in the
published, levelled equirect's frame). :mod:`workers.store.gc` keeps a version whose
``review.json`` exists; :mod:`workers.ops.review` removes it when a person decided.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from config.errors import ObjectNotFound
from config.settings import Settings
from workers.contract.keys import SceneKeys, faces_key, review_key
from workers.contract.scene import Check
from workers.contract.site import ReviewPolicy
from workers.contract.tour import Placement
from workers.sites.registry import load_site
from workers.store.base import ObjectStore

Decision = Literal["publish", "hold", "fail"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What :func:`decide` says of a version, and why (one line for the ledger)."""

    decision: Decision
    reason: str


def decide(checks: Sequence[Check], policy: ReviewPolicy, *, approved: bool = False) -> Verdict:
    """Publish, hold or fail a version with these ``checks`` under ``policy`` (module doc)."""
    failed = [c for c in checks if c.verdict == "fail"]
    if failed:
        return Verdict("fail", "; ".join(f"{c.name}: {c.message}" for c in failed))
    warned = [c for c in checks if c.verdict == "warn"]
    if approved:
        return Verdict("publish", "approved by a person")
    must = [c for c in checks if c.verdict == "review"]
    if must:
        return Verdict("hold", "; ".join(f"{c.name}: {c.message}" for c in [*must, *warned]))
    if policy == "always":
        why = "; ".join(f"{c.name}: {c.message}" for c in warned) or "no check warned"
        return Verdict("hold", f"every scene of this site is reviewed ({why})")
    if policy == "on_warning" and warned:
        return Verdict("hold", "; ".join(f"{c.name}: {c.message}" for c in warned))
    return Verdict("publish", "no check warned" if not warned else "review is off")


def review_policy(store: ObjectStore, settings: Settings, site: str) -> ReviewPolicy:
    """The review policy of ``site``: its registry's ``review``, else ``PANODOCK_REVIEW``."""
    registry = load_site(store, site)
    if registry is not None and registry.review is not None:
        return registry.review
    return settings.review


class FaceBox(BaseModel):
    """A detected face, in the published (levelled) equirect's frame, degrees."""

    yaw_deg: float
    pitch_deg: float
    width_deg: float
    height_deg: float
    score: float
    source: Literal["detector", "manual"]


class Faces(BaseModel):
    """``faces.json``: what the detector found in a version, private (never published)."""

    schema_: Literal["panodock.faces/1"] = Field("panodock.faces/1", alias="schema")
    faces: list[FaceBox]
    equirect: dict[str, int] = Field(description="Published equirect.jpg size: width, height.")

    model_config = {"populate_by_name": True}


class Hold(BaseModel):
    """``review.json``: a version waits for a person (see module docstring)."""

    schema_: Literal["panodock.review/1"] = Field("panodock.review/1", alias="schema")
    capture_id: str
    site: str
    scene: str
    version: str
    held_at: datetime
    reason: str
    checks: list[Check]
    placement: Placement | None = Field(description="Where the tour puts it when it goes live.")
    make: str | None = Field(None, description="The camera (EXIF make), for the lens memory.")
    model: str | None = Field(None, description="EXIF model, else the sidecar's device.")
    lens: str | None = Field(None, description="Lens profile fixed or remembered, if any.")

    model_config = {"populate_by_name": True}

    def keys(self) -> SceneKeys:
        """The held version's keys."""
        return SceneKeys(self.site, self.scene, self.version)


def save_hold(store: ObjectStore, hold: Hold) -> None:
    """Write a version's ``review.json``."""
    key = review_key(hold.site, hold.scene, hold.version)
    store.put(key, hold.model_dump_json(by_alias=True, indent=2).encode(),
              content_type="application/json")  # fmt: skip


def load_hold(store: ObjectStore, keys: SceneKeys) -> Hold | None:
    """The ``review.json`` of a version, or None when it is not held."""
    try:
        return Hold.model_validate_json(store.get(review_key(keys.site, keys.scene, keys.version)))
    except ObjectNotFound:
        return None


def drop_hold(store: ObjectStore, keys: SceneKeys) -> None:
    """Remove a version's ``review.json`` (a person decided); gc may then take what is left."""
    store.delete(review_key(keys.site, keys.scene, keys.version))


def save_faces(store: ObjectStore, keys: SceneKeys, faces: Faces) -> None:
    """Write a version's ``faces.json`` (private, next to its checkpoint)."""
    key = faces_key(keys.site, keys.scene, keys.version)
    store.put(key, faces.model_dump_json(by_alias=True).encode(), content_type="application/json")


def load_faces(store: ObjectStore, keys: SceneKeys) -> Faces | None:
    """A version's ``faces.json``, or None when none was kept."""
    try:
        return Faces.model_validate_json(store.get(faces_key(keys.site, keys.scene, keys.version)))
    except ObjectNotFound:
        return None


class HeldVersions:
    """Whether an object key lies in a held version: what viewers and shares must not see.

    A version not held is remembered ``ttl`` seconds (one lookup of ``review.json`` per
    version, not per tile); a held one is looked up on every request, so an approved
    version is served at once. A version is held from before its first tile
    (:class:`workers.pipeline.stages.review.Gate`) and never becomes held again.
    """

    def __init__(self, store: ObjectStore, *, ttl: float = 5.0) -> None:
        self.store = store
        self.ttl = ttl
        self._free: dict[tuple[str, str, str], float] = {}  # version -> when it was looked up

    def __call__(self, key: str) -> bool:
        parts = key.split("/")
        if len(parts) < 5 or parts[0] != "scenes":  # scenes/<site>/<scene>/<version>/<...>
            return False
        place = (parts[1], parts[2], parts[3])
        now = time.monotonic()
        seen = self._free.get(place)
        if seen is not None and now - seen <= self.ttl:
            return False
        if self.store.exists(review_key(*place)):
            return True
        if len(self._free) > 10_000:
            self._free.clear()
        self._free[place] = now
        return False
