"""Every object key panodock writes, in one place (the published layout of BRIEF.md).

::

    raw/<sha256>/<original name>                 originals, private, written first
    scenes/<site>/<scene>/<version>/...          immutable version prefix
        tiles/<z>/<f>/<y>/<x>.jpg                 cube multires, z=1 is the one-tile level
        preview.jpg thumb.jpg equirect.jpg scene.json
    scenes/<site>/<scene>/current.json           pointer to the live version, written last
    sites/<site>/tour.json                       site index
"""

from __future__ import annotations

from dataclasses import dataclass


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
