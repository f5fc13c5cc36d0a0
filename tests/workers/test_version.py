"""The scene version hashes everything that decides the output, and nothing else."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from config.data import LENSES_TOML
from config.settings import Settings
from ingest.sidecar import BlurRegion
from workers.pipeline.inputs import Inputs
from workers.pipeline.version import scene_version
from workers.state.ledger import Capture, RawFile

LENSES = LENSES_TOML.read_text(encoding="utf-8")
#: The settings that change what is published (the issue's list, and allow_incomplete).
OUTPUT_SETTINGS = {
    "tile_size",
    "jpeg_quality",
    "equirect_max_width",
    "fisheye_interpolation",
    "blur",
    "blur_sites",
    "blur_threshold",
    "allow_incomplete",
}


def _capture(site: str = "campus", **changes: Any) -> Capture:
    raw = RawFile(name="pano.jpg", sha256="ab" * 32, size=3, key="raw/" + "ab" * 32 + "/pano.jpg")
    return Capture(
        id="c" * 24, site=site, scene="hall", source="/inbox/pano.jpg", files=[raw], **changes
    )


def _inputs(lenses: str = LENSES, model: bytes | None = None) -> Inputs:
    # A real detector is not needed to hash its bytes: the digest is what enters the version.
    inputs = Inputs.from_data(lenses_toml=lenses, face_model=None, threshold=0.5)
    if model is None:
        return inputs
    return Inputs(
        lens_profiles=inputs.lens_profiles,
        lens_digest=inputs.lens_digest,
        model_digest=hashlib.sha256(model).hexdigest(),
    )


def _version(
    settings: Settings, inputs: Inputs | None = None, capture: Capture | None = None
) -> str:
    return scene_version(capture or _capture(), None, settings=settings, inputs=inputs or _inputs())


def test_the_version_is_stable_run_to_run() -> None:
    settings = Settings()
    assert _version(settings) == _version(Settings()) == _version(settings, _inputs())
    assert len(_version(settings)) == 16


def test_editing_the_lens_profiles_changes_the_version() -> None:
    edited = LENSES.replace("\n", "\n# a comment is an edit too\n", 1)
    assert _version(Settings(), _inputs(edited)) != _version(Settings())


def test_a_speed_setting_does_not_change_the_version() -> None:
    base = _version(Settings())
    for change in ({"upload_threads": 1}, {"workers": 7}, {"max_input_pixels": 10**6}):
        assert _version(Settings(**change)) == base, change


def test_the_marked_settings_are_the_output_settings() -> None:
    marked = {
        name
        for name, info in Settings.model_fields.items()
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("output")
    }
    assert marked == OUTPUT_SETTINGS


@pytest.mark.parametrize(
    "change",
    [
        {"tile_size": 512},
        {"jpeg_quality": 90},
        {"equirect_max_width": 4096},
        {"fisheye_interpolation": "bicubic"},
        {"blur": "off"},
        {"blur_sites": {"campus": "off"}},
        {"blur_threshold": 0.6},
        {"allow_incomplete": True},
    ],
    ids=lambda change: next(iter(change)),
)
def test_every_output_setting_changes_the_version(change: dict[str, Any]) -> None:
    assert _version(Settings(**change)) != _version(Settings())


def test_another_sites_blur_policy_leaves_this_sites_version_alone() -> None:
    assert _version(Settings(blur_sites={"elsewhere": "off"})) == _version(Settings())


def test_the_face_model_enters_the_version_only_where_faces_are_blurred() -> None:
    one, other = _inputs(model=b"model one"), _inputs(model=b"model two")
    assert _version(Settings(), one) != _version(Settings(), other)
    off = Settings(blur="off")
    assert _version(off, one) == _version(off, other)


def test_regions_to_blur_by_hand_change_the_version() -> None:
    region = BlurRegion(yaw_deg=10, pitch_deg=0, width_deg=20, height_deg=20)
    with_region = _capture(blur_regions=[region])
    assert _version(Settings(), capture=with_region) != _version(Settings())
