"""Every object key panodock writes, in one place (the published layout of BRIEF.md).

::

    raw/<sha256>/<original name>                 originals, private, written first
    scenes/<site>/<scene>/<version>/...          immutable version prefix
        tiles/<z>/<f>/<y>/<x>.jpg                 cube multires, z=1 is the one-tile level
        preview.jpg thumb.jpg equirect.jpg scene.json
    scenes/<site>/<scene>/current.json           pointer to the live version, written last
    sites/<site>/tour.json                       site index
    sites/<site>/tour/scenes/<scene>.json        a scene's tour entry (its own evidence)
    sites/<site>/tour/adopted                    the entries of an older tour.json were kept
    tour-dirty/<site>                            private: the site's tour.json awaits a rebuild
    sites/<site>/site.json                       site registry (buildings, floors, fits)
    sites/<site>/plans/<building>/<floor>.<ext>  the floor plans the registry names
    sites/<site>/attachments/<sha256>/<name>     documents on the map (PDF, images)
    schemas/<name>.schema.json                   JSON Schemas of the published documents
    work/<site>/<scene>/<version>/...            private: a checkpoint, a held version's
        review.json faces.json                    review record and detected face boxes

``<site>`` and ``<scene>`` are slugs (:mod:`config.names`: lower-case); building and floor
ids keep their case. Everything under :data:`PUBLIC_PREFIXES` is world-readable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: Prefixes anyone may read (the viewers); everything else, ``raw/`` above all, is private.
PUBLIC_PREFIXES: Final = ("scenes/", "sites/", "schemas/")


def raw_key(sha256: str, name: str) -> str:
    """Key of an archived original."""
    return f"raw/{sha256}/{name}"


def scene_root(site: str, scene: str) -> str:
    """Prefix holding every version of a scene and its pointer."""
    return f"scenes/{site}/{scene}"


def current_key(site: str, scene: str) -> str:
    """Key of the pointer to a scene's live version."""
    return f"{scene_root(site, scene)}/current.json"


def tour_key(site: str) -> str:
    """Key of a site's tour index."""
    return f"sites/{site}/tour.json"


def tour_entries_prefix(site: str) -> str:
    """Prefix of a site's per-scene tour entries (what the index is built from)."""
    return f"sites/{site}/tour/scenes/"


def tour_entry_key(site: str, scene: str) -> str:
    """Key of one scene's tour entry."""
    return f"{tour_entries_prefix(site)}{scene}.json"


def tour_adopted_key(site: str) -> str:
    """Marker: the scenes of a tour.json written before per-scene entries have entries."""
    return f"sites/{site}/tour/adopted"


#: Private prefix of "this site's tour.json is behind its entries" markers.
TOUR_DIRTY_PREFIX: Final = "tour-dirty/"


def tour_dirty_key(site: str) -> str:
    """Key of a site's "the index awaits a rebuild" marker (private)."""
    return f"{TOUR_DIRTY_PREFIX}{site}"


def site_key(site: str) -> str:
    """Key of a site's registry."""
    return f"sites/{site}/site.json"


def plan_key(site: str, building: str, floor: str, suffix: str) -> str:
    """Key of a floor's plan image; ``suffix`` like ``.png``."""
    return f"sites/{site}/plans/{building}/{floor}{suffix}"


def attachment_key(site: str, sha256: str, name: str) -> str:
    """Key of a document attached to a point of interest or scene (private with its site)."""
    return f"sites/{site}/attachments/{sha256}/{name}"


def floor_ref(building: str, floor: str) -> str:
    """The id a tour uses for a floor: ``<building>/<floor>`` (not a key of its own)."""
    return f"{building}/{floor}"


def schema_key(name: str) -> str:
    """Key of a published JSON Schema; ``name`` like ``scene.schema.json``."""
    return f"schemas/{name}"


@dataclass(frozen=True, slots=True)
class SceneKeys:
    """Names every object of one immutable scene version."""

    site: str
    scene: str
    version: str

    @property
    def prefix(self) -> str:
        return f"{scene_root(self.site, self.scene)}/{self.version}"

    @property
    def tiles(self) -> str:
        return f"{self.prefix}/tiles"

    def tile(self, z: int, face: str, y: int, x: int) -> str:
        return f"{self.tiles}/{z}/{face}/{y}/{x}.jpg"

    @property
    def manifest(self) -> str:
        return f"{self.prefix}/scene.json"

    @property
    def preview(self) -> str:
        return f"{self.prefix}/preview.jpg"

    @property
    def thumb(self) -> str:
        return f"{self.prefix}/thumb.jpg"

    @property
    def equirect(self) -> str:
        return f"{self.prefix}/equirect.jpg"

    @property
    def current(self) -> str:
        return current_key(self.site, self.scene)


def work_prefix(site: str, scene: str, version: str) -> str:
    """Private prefix of a version's working objects (checkpoint, review record)."""
    return f"work/{site}/{scene}/{version}"


#: Name of a held version's review record under its work prefix (gc keeps what it holds).
REVIEW_RECORD: Final = "review.json"


def review_key(site: str, scene: str, version: str) -> str:
    """Key of a held version's review record (private: why it waits for a person)."""
    return f"{work_prefix(site, scene, version)}/{REVIEW_RECORD}"


def faces_key(site: str, scene: str, version: str) -> str:
    """Key of the face boxes detected in a version (private: where people were)."""
    return f"{work_prefix(site, scene, version)}/faces.json"
