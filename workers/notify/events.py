"""The ``data`` of each event: names and keys only, never anything private.

A payload names the site, scene, version and capture, the reason of a failure and the
published ``scene.json`` key; never GPS, sidecar contents or the keys of originals
(``raw/``), which a webhook receiver has no business knowing.
"""

from __future__ import annotations

import re
from typing import Any

from workers.contract.keys import SceneKeys, current_key
from workers.state.ledger import Capture

#: An original's key in a reason (``raw/<sha256>/<name>``): left out of what is sent.
_RAW_KEY = re.compile(r"raw/\S+")


def published(keys: SceneKeys, capture_id: str) -> dict[str, Any]:
    """The data of ``scene.published``: the scene, its new version and its keys."""
    return {
        "site": keys.site,
        "scene": keys.scene,
        "version": keys.version,
        "capture_id": capture_id,
        "scene_json": keys.manifest,
        "current_json": keys.current,
    }


def held(keys: SceneKeys, capture_id: str, reason: str) -> dict[str, Any]:
    """The data of ``scene.review``: a version rendered but held for a person's review."""
    return {
        "site": keys.site,
        "scene": keys.scene,
        "version": keys.version,
        "capture_id": capture_id,
        "reason": _RAW_KEY.sub("raw/…", reason.splitlines()[0]) if reason else None,
    }


def capture_outcome(capture: Capture, reason: str | None) -> dict[str, Any]:
    """The data of ``capture.failed`` / ``capture.quarantined``: what and why, in one line."""
    return {
        "site": capture.site,
        "scene": capture.scene,
        "version": capture.version,
        "capture_id": capture.id,
        "reason": _RAW_KEY.sub("raw/…", reason.splitlines()[0]) if reason else None,
        "current_json": current_key(capture.site, capture.scene),
    }
