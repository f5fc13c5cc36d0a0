"""What a worker reads at its edge and hands to the pipeline: lens profiles and the face model.

The shipped data files change what is published as much as the settings do, so the
pipeline takes their parsed contents together with a digest of each, and the scene version
hashes the digests (:mod:`workers.pipeline.version`). The files are read by the caller
(:class:`workers.queue.actors.App`); nothing here opens one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from config.errors import ConfigError
from stitching.lens import LensProfile, parse_profiles
from stitching.privacy import FaceDetector


@dataclass(frozen=True, slots=True)
class Inputs:
    """The data files a pipeline renders with, parsed, and the digest of each."""

    lens_profiles: Mapping[str, LensProfile]
    lens_digest: str  # sha256 of the lens-profile TOML text
    detector: FaceDetector | None = None  # None: no site of this worker blurs faces
    model_digest: str | None = None  # sha256 of the face model's bytes

    @classmethod
    def from_data(
        cls,
        *,
        lenses_toml: str,
        face_model: bytes | None,
        threshold: float,
        model_name: str = "the face model",
    ) -> Inputs:
        """Parse what the edge read.

        Parameters
        ----------
        lenses_toml:
            The text of ``config/lenses.toml`` (or another profile file).
        face_model:
            The CenterFace ONNX model's bytes, or None when no site requires blurring.
        threshold:
            The face detector's score threshold (``Settings.blur_threshold``).
        model_name:
            Where the model bytes came from, for messages.

        Raises
        ------
        config.errors.ConfigError
            The lens profiles do not parse, or the model does not load as CenterFace.
        """
        try:
            profiles = parse_profiles(lenses_toml)
        except ValueError as exc:
            raise ConfigError(f"cannot use the lens profiles: {exc}") from exc
        detector = model_digest = None
        if face_model is not None:
            detector = FaceDetector.from_onnx(face_model, threshold=threshold, name=model_name)
            model_digest = hashlib.sha256(face_model).hexdigest()
        return cls(
            lens_profiles=profiles,
            lens_digest=hashlib.sha256(lenses_toml.encode()).hexdigest(),
            detector=detector,
            model_digest=model_digest,
        )
