"""Process one capture: from archived originals to a live scene.

Stages, each recorded in the ledger: metadata -> validate -> tiles -> previews -> publish.
The scene version is a hash of the originals' sha256s, the pipeline version and every
setting that changes the output, so a retried or redelivered job computes the same keys,
finds ``scene.json`` already written and only makes sure the pointer is swapped; the
ledger's conditional transition makes "published" happen once per capture.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from config.errors import CaptureError, QuarantineError
from ingest.gpano import GPano
from ingest.image import check_size, decode_image, probe_image
from ingest.metadata import ImageMetadata, read_metadata
from ingest.sidecar import BlurRegion, Sidecar, parse_sidecar
from stitching.dual_fisheye import stitch_dual_fisheye
from stitching.equirect import CroppedArea, place_cropped, validate_area
from stitching.fisheye import INTERPOLATIONS, DualFisheyeRemapper
from stitching.frames import Frame, StitchResult
from stitching.kinds import is_equirect_aspect, lens_pair, single_image_kind
from stitching.lens import LensProfile
from stitching.multishot import stitch_frames
from stitching.privacy import FaceDetector, FaceRegion, blur_faces, rotate_region
from stitching.rotation import pose_rotation
from tiling.cube import CubeProjector
from tiling.pyramid import choose_layout
from workers.contract.keys import SceneKeys
from workers.contract.scene import (
    CurrentPointer,
    Heading,
    Levelling,
    Privacy,
    SceneManifest,
    SourceFile,
    viewer_configs,
)
from workers.ops.logs import log_context, set_stage
from workers.pipeline.render import render_scene
from workers.queue.stage_limits import StageClock
from workers.sites.placement import Placement
from workers.sites.tour import locate_scene, publish_scene_to_tour, scene_metadata, tour_entry
from workers.state.ledger import Capture, Ledger, RawFile, State
from workers.store.base import ObjectStore
from workers.store.conditional import update_object

log = logging.getLogger(__name__)

#: Bump when a change alters published pixels or layout: it changes every version hash.
PIPELINE_VERSION = "panodock/5"  # 3: Marzipano's fallback level fits 640 px tiles; 4: privacy;
# 5: dual-fisheye seam fit with centre shift and narrow feather, multi-shot shared focal
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".tif", ".tiff", ".png")
#: Sidecar roles of files that are part of the panorama (None: the sidecar does not say).
IMAGE_ROLES = (None, "equirect", "fisheye", "dual_fisheye", "frame", "bracket")


@dataclass(frozen=True, slots=True)
class RenderSettings:
    """The settings of rendering; those that change the output enter the version hash."""

    tile_size: int | None
    jpeg_quality: int
    equirect_max_width: int
    max_input_pixels: int
    upload_threads: int = 8  # speed only: not part of the version hash
    allow_incomplete: bool = False  # publish a multi-shot set missing frames, flagged
    fisheye_interpolation: str = "bilinear"  # "bilinear" or "bicubic"
    blur: str = "required"  # face blurring policy, "required" or "off"
    blur_sites: Mapping[str, str] = field(default_factory=dict)  # per-site overrides
    blur_threshold: float = 0.5

    def blur_policy(self, site: str) -> str:
        return self.blur_sites.get(site, self.blur)


@dataclass(slots=True)
class Source:
    """The full-sphere equirect a capture became, and how."""

    equirect: np.ndarray
    kind: Literal["equirect", "dual_fisheye", "multishot"]
    partial: bool = False
    frames_unplaced: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    pitch_deg: float | None = None
    roll_deg: float | None = None

    @classmethod
    def stitched(cls, result: StitchResult) -> Source:
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


class Pipeline:
    """Runs captures through the stages; one instance per worker process."""

    def __init__(
        self,
        *,
        store: ObjectStore,
        ledger: Ledger,
        render: RenderSettings,
        projector: CubeProjector | None = None,
        clock: StageClock | None = None,
        detector: FaceDetector | None = None,
        lens_profiles: Mapping[str, LensProfile],
    ) -> None:
        self.detector = detector
        self.lens_profiles = lens_profiles
        self.store = store
        self.ledger = ledger
        self.render = render
        self.projector = projector or CubeProjector()
        # Remap maps and each camera's seam fit, kept for the worker's life.
        self.fisheye = DualFisheyeRemapper(
            interpolation=INTERPOLATIONS[render.fisheye_interpolation]
        )
        self.clock = clock or StageClock({}, default=float("inf"))

    def process(self, capture_id: str) -> None:
        """Process a capture; CaptureErrors propagate for the caller to record."""
        # Log lines name the capture and stage; both are reset when the job ends, so the
        # worker thread's next job does not inherit them.
        with log_context(capture_id=capture_id):
            self.clock.run(lambda: self._process(capture_id))

    def _process(self, capture_id: str) -> None:
        self.clock.enter("metadata")
        capture = self.ledger.transition(
            capture_id,
            State.PROCESSING,
            stage="metadata",
            expect={State.RECEIVED, State.ARCHIVED, State.QUEUED, State.PROCESSING, State.FAILED},
            detail=f"on {socket.gethostname()} pid {os.getpid()}",
        )
        if capture is None:
            current = self.ledger.get(capture_id)
            log.info("capture %s is %s already; nothing to do", capture_id, current.state)
            return
        capture = capture.model_copy(update={"attempts": capture.attempts + 1})
        sidecar = self._sidecar(capture)
        images = _image_files(capture, sidecar)
        data = self._checked(images[0])
        meta = read_metadata(data)
        placement = locate_scene(self.store, capture.site, sidecar, meta)

        keys = SceneKeys(capture.site, capture.scene, self.version(capture, sidecar))
        manifest: SceneManifest | None = None
        if self.store.exists(keys.manifest):
            self.ledger.note(capture_id, f"version {keys.version} was complete already")
        else:
            source = self._source(capture_id, images, data, meta, sidecar)
            manifest = self._build(capture, keys, source, meta, sidecar, placement)
            self._stage(capture_id, "publish")
            self.store.put(keys.manifest, manifest.to_json(), content_type="application/json")
        is_live, outcome = self._swap_pointer(keys, capture)
        if is_live:
            self._stage(capture_id, "tour")
            if manifest is None:  # written by an earlier attempt
                manifest = SceneManifest.model_validate_json(self.store.get(keys.manifest))
            publish_scene_to_tour(
                self.store, capture.site, tour_entry(manifest, sidecar, placement)
            )
        done = self.ledger.transition(
            capture_id,
            State.PUBLISHED,
            expect={State.PROCESSING},
            version=keys.version,
            detail=outcome,
        )
        if done is None:
            log.info("capture %s was published by another worker", capture_id)
        else:
            log.info("capture %s published: %s", capture_id, keys.current)

    def _manual_regions(self, capture: Capture, sidecar: Sidecar | None) -> list[BlurRegion]:
        return list(sidecar.blur_regions if sidecar else []) + list(capture.blur_regions)

    def _privacy(
        self,
        capture: Capture,
        equirect: np.ndarray,
        sidecar: Sidecar | None,
        rotation: np.ndarray | None,
    ) -> Privacy:
        """Blur faces (and manual regions) in place; a failure fails the capture unpublished."""
        policy = self.render.blur_policy(capture.site)
        if policy == "off":
            return Privacy(blurred=False, policy="off")
        self._stage(capture.id, "privacy")
        if self.detector is None:
            raise CaptureError(
                f"face blurring is required for site {capture.site} but this worker has no "
                "face detector loaded; the scene is not published"
            )
        manual = [
            FaceRegion(
                yaw_deg=r.yaw_deg,
                pitch_deg=r.pitch_deg,
                width_deg=r.width_deg,
                height_deg=r.height_deg,
                source="manual",
            )
            for r in self._manual_regions(capture, sidecar)
        ]
        if rotation is not None:  # manual regions are given in the levelled scene
            manual = [rotate_region(r, rotation) for r in manual]
        result = blur_faces(equirect, self.detector, extra_regions=manual, out=equirect)
        return Privacy(
            blurred=True,
            policy="required",
            regions=sum(1 for r in result.regions if r.source == "detector"),
            manual_regions=len(manual),
            detector=result.detector,
            detector_version=result.detector_version,
            threshold=self.render.blur_threshold,
        )

    def _checked(self, file: RawFile) -> bytes:
        """An original's bytes, refused from its header if it is not an image or a bomb."""
        data = self.store.get(file.key)
        info = probe_image(data, name=file.name)
        check_size(info, name=file.name, max_pixels=self.render.max_input_pixels)
        return data

    def _source(
        self,
        capture_id: str,
        images: list[RawFile],
        first: bytes,
        meta: ImageMetadata,
        sidecar: Sidecar | None,
    ) -> Source:
        """The full-sphere equirect of a capture, whatever kind it is (see module docstring)."""
        declared = sidecar.kind if sidecar else None
        # The camera picks a dual-fisheye lens profile: EXIF, else the sidecar's device name.
        model = meta.model or (sidecar.device if sidecar else None)
        if len(images) > 1 or declared == "multishot":
            self._stage(capture_id, "stitch")
            frames = [Frame(name=images[0].name, image=decode_image(first, name=images[0].name))]
            for file in images[1:]:
                frames.append(
                    Frame(name=file.name, image=decode_image(self._checked(file), name=file.name))
                )
            pair = lens_pair(frames, declared)
            if pair is not None:
                result = stitch_dual_fisheye(
                    pair,
                    make=meta.make,
                    model=model,
                    name=" + ".join(f.name for f in frames),
                    profiles=self.lens_profiles,
                    remapper=self.fisheye,
                )
                return Source.stitched(replace(result, frames_used=[f.name for f in frames]))
            rig = sidecar.rig if sidecar else None
            result = stitch_frames(
                frames,
                yaw_step_deg=rig.yaw_step_deg if rig else None,
                poses=rig.poses() if rig else None,
                brackets=rig.brackets if rig else 1,
                allow_incomplete=self.render.allow_incomplete,
            )
            return Source.stitched(result)
        name = images[0].name
        image = decode_image(first, name=name)
        projection = meta.gpano.projection_type if meta.gpano else None
        if single_image_kind(image, declared=declared, projection=projection) == "dual_fisheye":
            self._stage(capture_id, "stitch")
            return Source.stitched(
                stitch_dual_fisheye(
                    image,
                    make=meta.make,
                    model=model,
                    name=name,
                    profiles=self.lens_profiles,
                    remapper=self.fisheye,
                )
            )
        self._stage(capture_id, "validate")
        try:
            equirect, partial = self._equirect(image, meta)
        except QuarantineError as exc:
            raise QuarantineError(f"{name}: {exc}") from exc
        return Source(equirect=equirect, kind="equirect", partial=partial)

    def version(self, capture: Capture, sidecar: Sidecar | None = None) -> str:
        """Version id: hash of the originals, the pipeline and the output settings."""
        policy = self.render.blur_policy(capture.site)
        blob = json.dumps(
            {
                "files": sorted(f.sha256 for f in capture.files),
                "pipeline": PIPELINE_VERSION,
                "privacy": [
                    policy,
                    self.render.blur_threshold,
                    self.detector.version if self.detector and policy == "required" else None,
                    [r.model_dump() for r in self._manual_regions(capture, sidecar)],
                ],
                "render": [
                    self.render.tile_size,
                    self.render.jpeg_quality,
                    self.render.equirect_max_width,
                    self.render.fisheye_interpolation,
                ],
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def _stage(self, capture_id: str, stage: str) -> None:
        self.clock.enter(stage)
        set_stage(stage)  # every log line from here on names the stage
        # Only while still processing: a duplicate delivery running behind the one that
        # published must not move the capture back out of "published".
        self.ledger.transition(capture_id, State.PROCESSING, stage=stage, expect={State.PROCESSING})

    def _sidecar(self, capture: Capture) -> Sidecar | None:
        if capture.sidecar is None:
            return None
        entry = next(f for f in capture.files if f.name == capture.sidecar)
        return parse_sidecar(self.store.get(entry.key))

    def _equirect(self, image: np.ndarray, meta: ImageMetadata) -> tuple[np.ndarray, bool]:
        """A full 2:1 canvas from the decoded image, or a QuarantineError saying why not."""
        height, width = image.shape[:2]
        area = _cropped_area(meta.gpano)
        if area is not None:
            validate_area(area)
            scale = width / area.width
            canvas = round(area.full_width * scale) * round(area.full_height * scale)
            if canvas > self.render.max_input_pixels:
                raise QuarantineError(
                    f"GPano says the full panorama is {area.full_width}x{area.full_height} "
                    f"({canvas / 1e6:.0f} MP at this image's scale), above the limit of "
                    f"{self.render.max_input_pixels / 1e6:.0f} MP"
                )
            return place_cropped(image, area), True
        if not is_equirect_aspect(width, height):
            raise QuarantineError(
                f"image is {width}x{height} (aspect {width / height:.2f}:1), not a 2:1 "
                "equirectangular panorama, and has no GPano cropped-area fields saying which "
                "part of the sphere it covers; export it from the camera app as a full 360x180 "
                "panorama"
            )
        return image, False

    def _build(
        self,
        capture: Capture,
        keys: SceneKeys,
        source: Source,
        meta: ImageMetadata,
        sidecar: Sidecar | None,
        placement: Placement,
    ) -> SceneManifest:
        equirect = source.equirect
        levelling, heading = _orientation(meta, sidecar, source)
        rotation = None
        if levelling.pitch_deg or levelling.roll_deg:
            rotation = pose_rotation(levelling.pitch_deg, levelling.roll_deg)
        # Before anything is rendered: every published pixel comes from this blurred array.
        privacy = self._privacy(capture, equirect, sidecar, rotation)
        layout = choose_layout(equirect.shape[1], self.render.tile_size)
        result = render_scene(
            equirect,
            store=self.store,
            keys=keys,
            layout=layout,
            projector=self.projector,
            rotation=rotation,
            quality=self.render.jpeg_quality,
            equirect_max_width=self.render.equirect_max_width,
            on_stage=lambda stage: self._stage(capture.id, stage),
            threads=self.render.upload_threads,
        )
        device = " ".join(p for p in (meta.make, meta.model) if p) or None
        captured_at = (sidecar.captured_at if sidecar else None) or meta.datetime_original
        return SceneManifest(
            site=capture.site,
            scene=capture.scene,
            version=keys.version,
            base=keys.prefix,
            capture_id=capture.id,
            created_at=datetime.now(UTC),
            captured_at=captured_at,
            device=device,
            pipeline=PIPELINE_VERSION,
            sources=[SourceFile(name=f.name, sha256=f.sha256, key=f.key) for f in capture.files],
            source_size=(int(equirect.shape[1]), int(equirect.shape[0])),
            kind=source.kind,
            partial=source.partial,
            incomplete=bool(source.frames_unplaced),
            frames_unplaced=source.frames_unplaced,
            levelling=levelling,
            heading=heading,
            privacy=privacy,
            tiles=result.tiles,
            preview=result.preview,
            thumb=result.thumb,
            equirect=result.equirect,
            viewers=viewer_configs(keys, result.tiles, heading.heading_deg),
            metadata=_public_metadata(meta, sidecar) | scene_metadata(placement, sidecar),
            stitch=source.details or None,
            warnings=list(meta.warnings) + source.warnings,
        )

    def _swap_pointer(
        self, keys: SceneKeys, capture: Capture, attempts: int = 5
    ) -> tuple[bool, str]:
        """Point current.json at this version with a conditional write (never torn).

        A pointer never goes back in time: if a capture received later than this one is
        live already (a re-shoot of the same scene, processed faster), it stays live.
        Returns what happened, for the ledger.
        """
        pointer = CurrentPointer(
            site=keys.site,
            scene=keys.scene,
            version=keys.version,
            manifest=keys.manifest,
            capture_id=capture.id,
            capture_received_at=capture.created_at,
            published_at=datetime.now(UTC),
        )
        outcome = (True, f"published {keys.prefix}")

        def swap(current: bytes | None) -> bytes | None:
            nonlocal outcome
            outcome = (True, f"published {keys.prefix}")
            if current is None:
                return pointer.to_json()
            live = CurrentPointer.model_validate_json(current)
            if live.version == keys.version:
                outcome = (True, f"{keys.current} already points at {keys.version}")
                return None
            if live.capture_received_at > capture.created_at:
                outcome = (False, (
                    f"version {keys.version} is complete but not live: capture "
                    f"{live.capture_id[:12]} of this scene is newer and stays live"
                ))  # fmt: skip
                return None
            return pointer.to_json()

        update_object(self.store, keys.current, swap, attempts=attempts)
        return outcome


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot put {type(value).__name__} into scene.json")


def _image_files(capture: Capture, sidecar: Sidecar | None) -> list[RawFile]:
    """The images of a capture, in name order (a rotating head's shooting order).

    Files the sidecar marks ``"role": "equirect"`` win alone; files it marks with a role
    other than an image role (e.g. ``"thumbnail"``) are left out. QuarantineError if none.
    """
    images = sorted(
        (f for f in capture.files if f.name.lower().endswith(IMAGE_SUFFIXES)),
        key=lambda f: f.name,
    )
    if sidecar is not None:
        roles = {f.name: f.role for f in sidecar.files}
        tagged = [f for f in images if roles.get(f.name) == "equirect"]
        images = tagged or [f for f in images if roles.get(f.name) in IMAGE_ROLES]
    if not images:
        others = [f.name for f in capture.files if f.name != capture.sidecar]
        raise QuarantineError(f"capture has no image file (found {', '.join(others) or 'nothing'})")
    return images


def _cropped_area(gpano: GPano | None) -> CroppedArea | None:
    """The part of the sphere GPano says the image covers; None for a full sphere."""
    if gpano is None:
        return None
    fields = (
        gpano.full_pano_width_pixels,
        gpano.full_pano_height_pixels,
        gpano.cropped_area_left_pixels,
        gpano.cropped_area_top_pixels,
        gpano.cropped_area_image_width_pixels,
        gpano.cropped_area_image_height_pixels,
    )
    values = [int(v) for v in fields if v is not None]
    if len(values) < len(fields):
        return None
    full_w, full_h, left, top, width, height = values
    if (width, height) == (full_w, full_h):
        return None
    return CroppedArea(
        full_width=full_w, full_height=full_h, left=left, top=top, width=width, height=height
    )


def _orientation(
    meta: ImageMetadata, sidecar: Sidecar | None, source: Source
) -> tuple[Levelling, Heading]:
    """Pitch/roll to level and the compass heading: sidecar, then GPano, then the stitch."""
    orientation = sidecar.orientation if sidecar else None
    gpano = meta.gpano
    levelling = Levelling()
    if orientation is not None and (orientation.pitch_deg or orientation.roll_deg):
        levelling = Levelling(
            pitch_deg=orientation.pitch_deg or 0.0,
            roll_deg=orientation.roll_deg or 0.0,
            source="sidecar",
        )
    elif gpano is not None and (gpano.pose_pitch_degrees or gpano.pose_roll_degrees):
        levelling = Levelling(
            pitch_deg=float(gpano.pose_pitch_degrees or 0.0),
            roll_deg=float(gpano.pose_roll_degrees or 0.0),
            source="gpano",
        )
    elif source.pitch_deg or source.roll_deg:
        levelling = Levelling(
            pitch_deg=source.pitch_deg or 0.0, roll_deg=source.roll_deg or 0.0, source="stitch"
        )
    heading = Heading()
    if orientation is not None and orientation.heading_deg is not None:
        heading = Heading(heading_deg=orientation.heading_deg, source="sidecar")
    elif gpano is not None and gpano.pose_heading_degrees is not None:
        heading = Heading(heading_deg=float(gpano.pose_heading_degrees) % 360.0, source="gpano")
    return levelling, heading


def _public_metadata(meta: ImageMetadata, sidecar: Sidecar | None) -> dict[str, object]:
    """What of the metadata goes into scene.json: it is public, so no GPS, no operator."""
    out: dict[str, object] = {}
    if sidecar is not None:
        for name in ("building", "floor", "room"):
            value = getattr(sidecar, name, None)
            if value is not None:
                out[name] = value
    return out
