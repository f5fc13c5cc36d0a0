"""The scene version: a hash of everything that decides what a capture publishes.

Its inputs are the originals' sha256s, :data:`PIPELINE_VERSION`, every setting marked as
changing the output (``OUTPUT`` on the settings field, read by
:meth:`config.settings.Settings.output_settings`), the digests of the lens profiles and of
the face model (when the capture's site blurs faces), the regions to blur by hand, and the
levelling, heading and lens an operator set or the site remembers for the camera. A
retried or redelivered job therefore computes the same keys and finds its earlier output;
any change of an input makes a new version instead of overwriting a published one.
"""

from __future__ import annotations

import hashlib
import json

from config.settings import Settings
from ingest.sidecar import Sidecar
from workers.pipeline.inputs import Inputs
from workers.pipeline.job import blur_regions
from workers.state.ledger import Capture

#: Bump when a change alters published pixels or layout: it changes every version hash.
PIPELINE_VERSION = "panodock/6"  # 3: Marzipano's fallback level fits 640 px tiles; 4: privacy;
# 5: dual-fisheye seam fit with centre shift and narrow feather, multi-shot shared focal;
# 6: tile faces at Lanczos-quality luma (tiling.luma)


def scene_version(
    capture: Capture,
    sidecar: Sidecar | None,
    *,
    settings: Settings,
    inputs: Inputs,
    lens: str | None = None,
) -> str:
    """The version id (16 hex digits) of the scene ``capture`` publishes (module docstring).

    ``lens`` is the lens profile the site remembers for the capture's camera
    (:mod:`workers.sites.cameras`). It and the operator's overrides (``capture.overrides``,
    ``panodock review fix``) enter only when set, so earlier versions keep their ids.
    """
    blurs = settings.blur_policy(capture.site) == "required"
    extra: dict[str, object] = {}
    if capture.overrides.given():
        extra["overrides"] = capture.overrides.given()
    if lens is not None:
        extra["camera_lens"] = lens
    blob = json.dumps(
        {
            **extra,
            "files": sorted(f.sha256 for f in capture.files),
            "pipeline": PIPELINE_VERSION,
            "settings": settings.output_settings(capture.site),
            "lens_profiles": inputs.lens_digest,
            "face_model": inputs.model_digest if blurs else None,
            # How faces are searched (method and model, e.g. "ort-rolls4+sha256:..."):
            # a new search makes new versions rather than overwrite published ones.
            "face_search": inputs.detector.version if blurs and inputs.detector else None,
            "blur_regions": [r.model_dump() for r in blur_regions(capture, sidecar)],
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
