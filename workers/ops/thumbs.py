"""Thumbnails the ops console shows beside a capture: its rendered one, else its original's.

A failed or quarantined capture often has no rendered version; the console then shows a
small JPEG made from its first image original, which stays private (operators only, never
cached by a proxy). The original is refused from its header as the pipeline refuses it
(not an image, a bomb, too big to read into memory), and then there is no thumbnail.
"""

from __future__ import annotations

import logging

import pyvips

from config.errors import ObjectNotFound, PanodockError
from ingest.image import check_size, probe_image
from workers.contract.keys import SceneKeys
from workers.pipeline.stages.metadata import IN_MEMORY_BYTES, image_files
from workers.state.ledger import Capture
from workers.store.base import ObjectStore

log = logging.getLogger(__name__)

#: Width of a thumbnail made from an original, px.
THUMB_WIDTH = 320


def capture_thumb(store: ObjectStore, capture: Capture, *, max_pixels: int) -> bytes | None:
    """A JPEG thumbnail of ``capture``: its version's ``thumb.jpg``, else one of its original.

    None when there is neither (no image original, or one the pipeline would refuse).
    """
    if capture.version:
        try:
            return store.get(SceneKeys(capture.site, capture.scene, capture.version).thumb)
        except ObjectNotFound:
            pass
    images = image_files(capture, None)
    if not images or images[0].size > IN_MEMORY_BYTES:
        return None
    first = images[0]
    try:
        data = store.get(first.key)
        check_size(probe_image(data, name=first.name), name=first.name, max_pixels=max_pixels)
        thumb = pyvips.Image.thumbnail_buffer(data, THUMB_WIDTH)
        return bytes(thumb.jpegsave_buffer(Q=80, strip=True))
    except (PanodockError, ObjectNotFound, pyvips.Error) as exc:
        log.info("no thumbnail for capture %s: %s", capture.id[:12], exc)
        return None
