"""The typed job: everything one capture accumulates on its way through the stages.

The runner builds a :class:`Job` from the ledger's capture and hands it to each stage in
turn; a stage reads what the stages before it left and adds its own output. Nothing in a
job outlives it: what must survive a failed attempt is written to the store (the scene
version's objects, or the source checkpoint of :mod:`workers.pipeline.checkpoint`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ingest.metadata import ImageMetadata
from ingest.sidecar import BlurRegion, Sidecar
from stitching.frames import Frame, StitchResult
from stitching.privacy import FaceRegion
from tiling.pyramid import TileLayout
from workers.contract.keys import SceneKeys
from workers.contract.scene import (
    Brackets,
    Check,
    Coverage,
    Heading,
    Levelling,
    Privacy,
    SceneManifest,
)
from workers.contract.site import CameraLens
from workers.contract.tour import Placement
from workers.pipeline.render import RenderedPreviews, RenderedTiles
from workers.state.ledger import Capture, RawFile

SourceKind = Literal["equirect", "dual_fisheye", "multishot"]


@dataclass(slots=True)
class Source:
    """The full-sphere equirect a capture became, and how (its "story")."""

    equirect: np.ndarray
    kind: SourceKind
    partial: bool = False
    frames_unplaced: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    pitch_deg: float | None = None
    roll_deg: float | None = None
    brackets: Brackets | None = None  # the HDR brackets fused into it, if any

    @classmethod
    def stitched(cls, result: StitchResult) -> Source:
        """The source a stitcher made (dual-fisheye frame or pair, or a multi-shot set)."""
        kind: Literal["dual_fisheye", "multishot"] = (
            "dual_fisheye" if result.kind == "dual_fisheye" else "multishot"
        )
        # scene.json is JSON: numpy scalars and arrays become plain numbers and lists.
        details = json.loads(
            json.dumps({**result.details, "frames_used": list(result.frames_used)}, default=_plain)
        )
        return cls(
            equirect=result.equirect,
            kind=kind,
            frames_unplaced=list(result.frames_unplaced),
            warnings=list(result.warnings),
            details=details,
            pitch_deg=result.pitch_deg,
            roll_deg=result.roll_deg,
        )


@dataclass(slots=True)
class Job:
    """One capture's run through the stages (see module docstring).

    Fields are filled in stage order: metadata (``sidecar`` .. ``complete``), the kind
    decision (``frames``, ``stitch``), the source (``source``, ``restored``, orientation),
    privacy, tiles, previews, publish (``manifest``, ``live``, ``outcome``).
    """

    capture: Capture
    #: The stage the ledger, the clock and the log context are in (the runner sets it).
    stage: str | None = None
    sidecar: Sidecar | None = None
    images: list[RawFile] = field(default_factory=list)
    first: bytes = b""  # the first image's bytes, header-checked
    meta: ImageMetadata | None = None
    placement: Placement | None = None
    keys: SceneKeys | None = None
    policy: Literal["required", "off"] = "required"  # face blurring, for this capture's site
    #: scene.json of this version exists already: every stage up to the pointer is skipped.
    complete: bool = False
    frames: list[Frame] = field(default_factory=list)  # decoded images, name order
    stitch: bool = False  # the source is stitched (else an equirect is validated)
    #: HDR brackets the kind decision found: ``frames`` holds them until Build fuses them.
    brackets: Brackets | None = None
    source: Source | None = None
    restored: bool = False  # source and privacy came from a checkpoint of an earlier attempt
    levelling: Levelling = field(default_factory=Levelling)
    heading: Heading = field(default_factory=Heading)
    rotation: np.ndarray | None = None  # 3x3, levelled direction -> source direction
    privacy: Privacy | None = None  # None until blurred (stays None when the policy is off)
    #: Measurements of this version (scene.json ``checks``); stages append, review reads.
    checks: list[Check] = field(default_factory=list)
    #: Face boxes the detector found, in the source's frame (private: never published).
    faces: list[FaceRegion] = field(default_factory=list)
    coverage: Coverage | None = None
    layout: TileLayout | None = None
    tiles: RenderedTiles | None = None
    previews: RenderedPreviews | None = None
    manifest: SceneManifest | None = None
    #: Lens profile an operator fixed or the site remembers for this camera, and who said so.
    lens: str | None = None
    lens_note: str | None = None
    #: Lens fits the site approved for this camera; the source stage matches the frame to one.
    lens_fits: list[CameraLens] = field(default_factory=list)
    #: Why this version waits for a person (workers.pipeline.review); None: it goes live.
    review: str | None = None
    live: bool = False  # current.json points at this version after the swap
    outcome: str = ""  # what the pointer swap did, for the ledger

    @property
    def id(self) -> str:
        return self.capture.id

    def need_keys(self) -> SceneKeys:
        """The scene keys, which the metadata stage sets before any other stage runs."""
        if self.keys is None:
            raise RuntimeError(f"capture {self.id}: the metadata stage has not run")
        return self.keys

    def need_source(self) -> Source:
        """The source equirect, which the source stage (or a checkpoint) provides."""
        if self.source is None:
            raise RuntimeError(f"capture {self.id}: the source stage has not run")
        return self.source

    def need_meta(self) -> ImageMetadata:
        """The first image's metadata, which the metadata stage reads."""
        if self.meta is None:
            raise RuntimeError(f"capture {self.id}: the metadata stage has not run")
        return self.meta

    @property
    def blurred(self) -> bool:
        """Whether the source is as it may be published (blurred, or blurring is off)."""
        return self.source is not None and (self.privacy is not None or self.policy == "off")


def blur_regions(capture: Capture, sidecar: Sidecar | None) -> list[BlurRegion]:
    """Regions to blur besides detected faces: the sidecar's, then the operator's."""
    return list(sidecar.blur_regions if sidecar else []) + list(capture.blur_regions)


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot put {type(value).__name__} into scene.json")
