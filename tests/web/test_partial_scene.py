"""A capped scene (a band from pitch -50° to +42°) looked straight down and up, in each viewer.

The scene page applies the limits scene.json's viewer configs carry (workers.contract.viewers
``view_limits``): whatever the page asks for, no viewer may show the black below or above
the band.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser

from config.settings import Settings
from tests.support.pipeline import Harness, file_candidate, gpano_xmp, with_xmp
from tests.web.test_scene_page import SIZE, VIEWERS, render
from workers.http.api import create_api

TOP, BOTTOM = 42.0, -50.0


@pytest.fixture
def capped(
    settings: Settings, tmp_path: Path, pano: np.ndarray, viewer_modules: Path,
    serve: Callable[[FastAPI], str],
) -> Iterator[str]:  # fmt: skip
    """URL of the scene page of a published band, placed on the sphere by GPano."""
    full = cv2.resize(pano, (2048, 1024), interpolation=cv2.INTER_AREA)
    top, bottom = round((90 - TOP) / 180 * 1024), round((90 - BOTTOM) / 180 * 1024)
    ok, buf = cv2.imencode(".jpg", full[top:bottom], [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    xmp = gpano_xmp(
        ProjectionType="equirectangular", FullPanoWidthPixels=2048, FullPanoHeightPixels=1024,
        CroppedAreaLeftPixels=0, CroppedAreaTopPixels=top, CroppedAreaImageWidthPixels=2048,
        CroppedAreaImageHeightPixels=bottom - top,
    )  # fmt: skip
    path = tmp_path / "band.jpg"
    path.write_bytes(with_xmp(buf.tobytes(), xmp))
    harness = Harness(settings)
    capture_id = harness.ingest(file_candidate(path))
    harness.drain()
    _, manifest = harness.published(capture_id)
    assert manifest.partial and manifest.coverage is not None
    assert manifest.coverage.pitch_min_deg >= BOTTOM and manifest.coverage.pitch_max_deg <= TOP
    base = serve(
        create_api(settings, settings.redis_url or "", store=harness.store, viewers=viewer_modules)
    )
    yield f"{base}/scene/{manifest.site}/{manifest.scene}"


@pytest.mark.parametrize("viewer", VIEWERS)
def test_no_viewer_shows_black_above_or_below_a_capped_scene(
    viewer: str, capped: str, browser: Browser, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": SIZE[0], "height": SIZE[1]})
    try:
        for pitch, vfov in ((-90.0, 70.0), (90.0, 100.0), (-60.0, 120.0)):
            shot = tmp_path / f"{viewer}_{pitch:+.0f}_{vfov:.0f}.png"
            url = f"{capped}?viewer={viewer}&yaw=30&pitch={pitch}&vfov={vfov}"
            img, _, failed = render(page, url, shot)
            assert not failed, f"{viewer}: failed requests {failed}"
            black = img.max(axis=2) < 12
            assert img.std() > 20, f"{viewer}: blank canvas ({shot})"
            assert black.mean() < 0.002, (
                f"{viewer} at pitch {pitch} vfov {vfov}: {black.mean():.1%} black ({shot})"
            )
    finally:
        page.close()
