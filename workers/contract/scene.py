"""The published contract with viewers: ``scene.json`` and ``current.json``.

A scene version is immutable: its tiles, previews and ``scene.json`` live under the version
prefix of :class:`workers.contract.keys.SceneKeys` and never change; ``current.json`` says
which version is live and is the only object a reader follows. The ready-made viewer
configs that ``scene.json`` carries (``viewers``) are built by
:func:`workers.contract.viewers.viewer_configs`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, Field

SCENE_SCHEMA: Final = "panodock.scene/1"
CURRENT_SCHEMA: Final = "panodock.current/1"


class TileLevel(BaseModel):
    """One level of the cube pyramid: every face is ``size`` px, cut into tiles x tiles."""

    z: int = Field(ge=1)
    size: int
    tiles: int


class TileSet(BaseModel):
    """The cube multires tile set of a scene version."""

    tile_size: int
    face_size: int
    faces: list[str]
    levels: list[TileLevel] = Field(description="Smallest (z=1, one tile per face) first.")
    path: str = Field("tiles/{z}/{f}/{y}/{x}.jpg", description="Relative to the version prefix.")
    count: int = Field(description="Number of tiles: 6 x sum of tiles^2 over levels.")
    quality: int | None = Field(
        None, ge=1, le=100, description="JPEG quality of every tile; None in older versions."
    )
    resampling: str | None = Field(
        None,
        description="How the top level was sampled from the equirect, e.g. "
        "'luma-lanczos2x-cubic'; lower levels halve it by area averaging.",
    )


class SourceFile(BaseModel):
    """An original file the scene was made from."""

    name: str
    sha256: str
    key: str


class Levelling(BaseModel):
    """The rotation applied to level the horizon."""

    pitch_deg: float = 0.0
    roll_deg: float = 0.0
    source: Literal["sidecar", "gpano", "stitch", "image", "manual", "none"] = Field(
        "none",
        description="manual: an operator set it (panodock review fix); image: no pose was "
        "known, so the up direction was found from the scene's vertical lines.",
    )
    confidence: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        exclude_if=lambda v: v is None,
        description="source image: how sure the estimate from the lines was, 0..1 (absent "
        "for the other sources).",
    )


class Heading(BaseModel):
    """Compass heading of the panorama's centre (yaw 0), clockwise from true north."""

    heading_deg: float | None = None
    source: Literal["sidecar", "gpano", "manual", "none"] = Field(
        "none", description="manual: an operator set it (panodock review fix)."
    )


class Privacy(BaseModel):
    """What the privacy stage did. Region positions stay private (they show where people were)."""

    blurred: bool
    policy: Literal["required", "off"]
    regions: int = Field(0, description="Regions the detector found.")
    manual_regions: int = Field(0, description="Regions from the sidecar or an operator.")
    detector: str | None = None
    detector_version: str | None = None
    threshold: float | None = None
    views: int = Field(0, description="Detector views searched over the sphere.")
    rolls_deg: list[int] = Field(
        default_factory=list, description="View rolls searched (0, 90, 180, 270)."
    )
    complete: bool = Field(
        True, description="The whole sphere was searched (a scene that was not is not published)."
    )


class Check(BaseModel):
    """One measurement of a scene version against its limit (see ``SceneManifest.checks``).

    ``verdict`` is what review acts on: ``ok`` passes, ``warn`` holds the scene for a
    person under the default review policy, ``review`` holds it for a person whatever the
    policy (e.g. a lens that could not be fitted: only an approval publishes it), ``fail``
    is never published. ``value`` and
    ``limit`` are in the units the message names (degrees, pixels, a fraction, a count);
    either is None for a check that is a statement rather than a measurement.
    """

    name: str = Field(description="Stable identifier, e.g. 'coverage', 'level', 'privacy'.")
    value: float | str | None = None
    limit: float | str | None = None
    verdict: Literal["ok", "warn", "review", "fail"]
    message: str = Field(description="One sentence a technician understands.")


class Coverage(BaseModel):
    """How much of the sphere the published equirect covers with real pixels."""

    fraction: float = Field(ge=0.0, le=1.0, description="Solid-angle fraction covered.")
    yaw_min_deg: float = -180.0
    yaw_max_deg: float = 180.0
    pitch_min_deg: float = -90.0
    pitch_max_deg: float = 90.0


class Brackets(BaseModel):
    """The HDR brackets (exposures of one position) fused into this scene's panorama."""

    count: int = Field(ge=2)
    files: list[str] = Field(description="The bracket files, in name order.")
    exposure_ev: list[float] | None = Field(
        None, description="Each file's exposure in EV relative to the middle one (EXIF)."
    )
    reference: str = Field(description="The bracket the others were lined up with.")
    shifts_px: list[tuple[int, int]] = Field(
        description="(dx, dy) pixels, x right and y down, moving each file onto the reference."
    )
    agreement: list[float] = Field(
        description="Fraction of median-threshold bitmap pixels agreeing after the shift, 0..1."
    )
    recognised_by: Literal["sidecar", "exif"]
    alignment: Literal["mtb"] = Field("mtb", description="Median threshold bitmaps.")
    fusion: Literal["mertens"] = Field("mertens", description="Mertens exposure fusion.")


class ImageRef(BaseModel):
    """A published image next to the tiles."""

    key: str
    width: int
    height: int


class SceneManifest(BaseModel):
    """``scene.json``: everything a viewer or an index needs about one scene version."""

    schema_: Literal["panodock.scene/1"] = Field(SCENE_SCHEMA, alias="schema")
    site: str
    scene: str
    version: str
    base: str = Field(description="Key prefix of this version; paths below are relative to it.")
    capture_id: str
    kind: Literal["equirect", "dual_fisheye", "multishot"] = "equirect"
    created_at: datetime
    captured_at: datetime | None = None
    device: str | None = None
    pipeline: str
    sources: list[SourceFile]
    source_size: tuple[int, int] = Field(description="Width, height of the decoded original.")
    partial: bool = Field(False, description="True when the original covered part of the sphere.")
    incomplete: bool = Field(
        False, description="True when frames of a multi-shot set could not be placed."
    )
    frames_unplaced: list[str] = Field(default_factory=list)
    stitch: dict[str, Any] | None = Field(
        None, description="How raw frames were stitched: lens profile, seam shift, frames used."
    )
    levelling: Levelling
    heading: Heading
    privacy: Privacy
    tiles: TileSet
    preview: ImageRef = Field(description="256 px cube strip, faces b,d,f,l,r,u top to bottom.")
    thumb: ImageRef
    equirect: ImageRef
    viewers: dict[str, dict[str, Any]]
    metadata: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    checks: list[Check] = Field(
        default_factory=list, description="Every check this version was measured against."
    )
    coverage: Coverage | None = Field(
        None, description="Covered yaw/pitch extents; None for versions recorded before checks."
    )
    brackets: Brackets | None = Field(
        None, description="HDR brackets fused into the panorama; None: a single exposure."
    )

    model_config = {"populate_by_name": True}

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True, indent=2).encode()


class CurrentPointer(BaseModel):
    """``current.json``: which version of a scene is live. Readers follow only this."""

    schema_: Literal["panodock.current/1"] = Field(CURRENT_SCHEMA, alias="schema")
    site: str
    scene: str
    version: str
    manifest: str = Field(description="Key of the live version's scene.json.")
    capture_id: str
    capture_received_at: datetime = Field(
        description="When panodock received the capture: a pointer never goes back in time."
    )
    published_at: datetime

    model_config = {"populate_by_name": True}

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True, indent=2).encode()
