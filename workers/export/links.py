"""Where an export's links point: into the offline bundle beside it, or through a share link.

Without a share, links are relative to the export directory (``offline/scenes/<scene>.html``,
``offline/thumbs/<scene>.jpg``), so the GeoJSON and the PDF open the bundle's scenes when the
directory is handed over whole. With ``--share`` they go through the share gateway
(``<share>/scene/<site>/<scene>``, ``<share>/objects/<key>``: :mod:`workers.http.gateway`), for
a responder who has the link but not the files.
"""

from __future__ import annotations

from dataclasses import dataclass

from workers.contract.site import Attachment
from workers.contract.tour import TourScene

OFFLINE_DIR = "offline"


@dataclass(frozen=True, slots=True)
class Links:
    """Link maker for one site's export; ``share`` is the share page URL or None."""

    site: str
    share: str | None = None

    @classmethod
    def make(cls, site: str, share: str | None, public_url: str | None) -> Links:
        """From ``--share``: a share page URL, or a token joined to ``public_url``."""
        if share is None:
            return cls(site)
        if share.startswith(("http://", "https://")):
            return cls(site, share.rstrip("/") + "/")
        if public_url is None:
            raise ValueError(
                "--share was given a token but no public_url is set; give the share's full URL"
            )
        return cls(site, f"{public_url.rstrip('/')}/s/{share}/")

    def scene(self, scene: str) -> str:
        if self.share:
            return f"{self.share}scene/{self.site}/{scene}"
        return f"{OFFLINE_DIR}/scenes/{scene}.html"

    def thumb(self, scene: TourScene) -> str:
        if self.share:
            return f"{self.share}objects/{scene.thumb}"
        return f"{OFFLINE_DIR}/thumbs/{scene.scene}.jpg"

    def attachment(self, item: Attachment) -> str:
        if self.share:
            return f"{self.share}objects/{item.key}"
        return f"{OFFLINE_DIR}/{bundle_path(item)}"


def bundle_path(item: Attachment) -> str:
    """Where the offline bundle keeps an attachment, relative to ``offline/``."""
    return f"attachments/{item.sha256}/{item.name}"
