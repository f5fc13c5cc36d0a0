"""Marzipano in a 1280x800 window: no band or hole where the side faces come into view.

At a yaw that is exactly a multiple of 45 deg, Marzipano left the side faces' tiles
undrawn once the window was wide enough to show them (scene.js nudges the yaw); the view
is compared with an independent perspective render of the source.
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
from tests.support.pipeline import Harness, file_candidate
from tests.web.test_scene_page import ncc, perspective, render
from workers.http.api import create_api
from workers.state.ledger import State

#: The page background (style.css #f6f7f9) as BGR: what a hole in the canvas shows.
PAGE = np.array([249, 247, 246])
VIEWS = ((0.0, 0.0, 70.0), (-90.0, 0.0, 70.0), (180.0, 0.0, 90.0), (45.0, 30.0, 100.0))


@pytest.fixture(scope="module")
def source() -> np.ndarray:
    """The full 4096x2048 sample: faces of 1280 px, two tile levels."""
    img = cv2.imread(str(Path(__file__).parents[1] / "data" / "pannellum_examplepano.jpg"))
    assert img is not None
    return img


@pytest.fixture
def scene_url(
    settings: Settings, tmp_path: Path, source: np.ndarray, viewer_modules: Path,
    serve: Callable[[FastAPI], str],
) -> Iterator[str]:  # fmt: skip
    harness = Harness(settings)
    path = tmp_path / "summit.jpg"
    path.write_bytes(cv2.imencode(".jpg", source, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes())
    capture_id = harness.ingest(file_candidate(path))
    harness.drain()
    capture = harness.app.ledger.get(capture_id)
    assert capture.state == State.PUBLISHED, capture.reason
    base = serve(create_api(settings, settings.redis_url or "", store=harness.store,
                            viewers=viewer_modules))  # fmt: skip
    yield f"{base}/scene/{capture.site}/{capture.scene}"


def test_marzipano_fills_a_1280x800_window_at_exact_angles(
    scene_url: str, browser: Browser, source: np.ndarray, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        for yaw, pitch, vfov in VIEWS:
            shot = tmp_path / f"marzipano_{yaw:+.0f}_{pitch:+.0f}.png"
            url = f"{scene_url}?viewer=marzipano&yaw={yaw}&pitch={pitch}&vfov={vfov}"
            img, _, failed = render(page, url, shot)
            assert not failed, failed
            assert img.shape[1] == 1280
            holes = float((np.abs(img.astype(int) - PAGE).max(axis=2) < 4).mean())
            assert holes < 0.002, f"yaw {yaw} pitch {pitch}: {holes:.1%} of the view empty ({shot})"
            expected = perspective(source, yaw, pitch, vfov, (img.shape[1], img.shape[0]))
            score = ncc(img, expected)
            assert score > 0.95, f"yaw {yaw} pitch {pitch}: NCC {score:.3f} ({shot})"
    finally:
        page.close()
