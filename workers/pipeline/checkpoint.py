"""The source checkpoint: what decode, stitch and blur made, kept for the retry of a job.

Decoding, stitching and blurring are the slow part of a job; tiling and uploading are what
fails (a store that is slow or down). When a stage after the privacy stage fails, the
runner writes the blurred full-sphere equirect (before levelling) losslessly as PNG, and
its story (kind, partial, warnings, stitch details, privacy record) as JSON::

    work/<site>/<scene>/<version>/source.png
    work/<site>/<scene>/<version>/source.json      written last: its presence = complete

A retried job of the same version loads them and starts at the tiles; the publish stage
deletes them once ``scene.json`` is written, and :mod:`workers.store.gc` removes those a
job never came back for. ``work/`` is private like ``raw/`` (it is not one of the public
prefixes), and the happy path never writes here.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import BaseModel, Field

from config.errors import ObjectNotFound
from workers.contract.keys import SceneKeys
from workers.contract.scene import Brackets, Privacy
from workers.pipeline.job import Source
from workers.store.base import ObjectStore

log = logging.getLogger(__name__)

#: Prefix of every checkpoint (private: not among the bucket's public prefixes).
WORK_PREFIX = "work/"
#: zlib level 1: the write must be quick, the file is short-lived.
PNG_COMPRESSION = 1


def checkpoint_prefix(keys: SceneKeys) -> str:
    """``work/<site>/<scene>/<version>``: the checkpoint of one scene version."""
    return f"{WORK_PREFIX}{keys.site}/{keys.scene}/{keys.version}"


def image_key(keys: SceneKeys) -> str:
    """Key of the checkpointed equirect (lossless PNG)."""
    return f"{checkpoint_prefix(keys)}/source.png"


def story_key(keys: SceneKeys) -> str:
    """Key of the checkpoint's story (JSON, written after the image)."""
    return f"{checkpoint_prefix(keys)}/source.json"


class Story(BaseModel):
    """How the checkpointed equirect came about: what scene.json will say of its source."""

    schema_: Literal["panodock.checkpoint/1"] = Field("panodock.checkpoint/1", alias="schema")
    width: int
    height: int
    kind: Literal["equirect", "dual_fisheye", "multishot"]
    partial: bool
    frames_unplaced: list[str]
    warnings: list[str]
    details: dict[str, Any]
    pitch_deg: float | None
    roll_deg: float | None
    privacy: Privacy | None = Field(description="None: the site does not blur faces.")
    brackets: Brackets | None = None


def save(store: ObjectStore, keys: SceneKeys, source: Source, privacy: Privacy | None) -> None:
    """Write the checkpoint of ``keys``' version (raises StoreError if the store fails)."""
    height, width = source.equirect.shape[:2]
    ok, png = cv2.imencode(".png", source.equirect, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:
        raise ValueError(f"cannot encode the {width}x{height} source of {keys.prefix} as PNG")
    story = Story(
        width=width,
        height=height,
        kind=source.kind,
        partial=source.partial,
        frames_unplaced=source.frames_unplaced,
        warnings=source.warnings,
        details=source.details,
        pitch_deg=source.pitch_deg,
        roll_deg=source.roll_deg,
        brackets=source.brackets,
        privacy=privacy,
    )
    store.put(image_key(keys), png.tobytes(), content_type="image/png")
    store.put(
        story_key(keys), story.model_dump_json(by_alias=True).encode(),
        content_type="application/json",
    )  # fmt: skip


def load(store: ObjectStore, keys: SceneKeys) -> tuple[Source, Privacy | None] | None:
    """The checkpointed source and privacy record of ``keys``' version, or None if none.

    A checkpoint that does not decode to what its story says is ignored (and logged): the
    job then makes its source again, as if there were none.
    """
    try:
        story = Story.model_validate_json(store.get(story_key(keys)))
        data = store.get(image_key(keys))
    except ObjectNotFound:
        return None
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.shape != (story.height, story.width, 3):
        got = "nothing" if image is None else f"{image.shape[1]}x{image.shape[0]}"
        log.warning(
            "checkpoint %s decodes to %s, not %dx%d; making the source again",
            image_key(keys), got, story.width, story.height,
        )  # fmt: skip
        return None
    source = Source(
        equirect=image,
        kind=story.kind,
        partial=story.partial,
        frames_unplaced=story.frames_unplaced,
        warnings=story.warnings,
        details=story.details,
        pitch_deg=story.pitch_deg,
        roll_deg=story.roll_deg,
        brackets=story.brackets,
    )
    return source, story.privacy


def delete(store: ObjectStore, keys: SceneKeys) -> None:
    """Remove the checkpoint of ``keys``' version (nothing happens if there is none)."""
    store.delete(story_key(keys))  # first: a half-deleted checkpoint is an absent one
    store.delete(image_key(keys))
