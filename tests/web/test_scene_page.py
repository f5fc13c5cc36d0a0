"""A published scene in Pannellum, Marzipano and Photo Sphere Viewer, in real Chromium.

The rendered view is compared with an independent perspective render of the source
panorama (numpy + cv2.remap here, not panodock's tiling code) at the same yaw, pitch and
field of view, by normalised cross-correlation; a view 90° off must not match.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, Request, Response

from config.settings import Settings
from tests.support.pipeline import Harness, file_candidate
from workers.http.api import create_api
from workers.state.ledger import State

VIEWERS = ("pannellum", "marzipano", "psv")
#: (yaw, pitch, vertical fov) in degrees: a horizon view and one into the bottom face,
#: away from the angles where SwiftShader draws Marzipano wrongly (BRIEF.md).
VIEWS = ((30.0, 10.0, 70.0), (-120.0, -55.0, 70.0))
SIZE = (640, 480)


def perspective(
    equi: np.ndarray, yaw: float, pitch: float, vfov: float, size: tuple[int, int]
) -> np.ndarray:
    """Pinhole view of an equirect; degrees, yaw + right, pitch + up, vfov vertical."""
    w, h = size
    f = (h / 2) / math.tan(math.radians(vfov) / 2)
    x, y = np.meshgrid(np.arange(w) - (w - 1) / 2, (h - 1) / 2 - np.arange(h))
    z = np.full_like(x, f)
    p, t = math.radians(pitch), math.radians(yaw)
    y, z = y * math.cos(p) + z * math.sin(p), -y * math.sin(p) + z * math.cos(p)
    x, z = x * math.cos(t) + z * math.sin(t), -x * math.sin(t) + z * math.cos(t)
    lon = np.arctan2(x, z)
    lat = np.arctan2(y, np.hypot(x, z))
    eh, ew = equi.shape[:2]
    u = (lon / (2 * math.pi) + 0.5) * ew - 0.5
    v = (0.5 - lat / math.pi) * eh - 0.5
    return cv2.remap(
        equi, u.astype(np.float32), v.astype(np.float32), cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_WRAP,
    )  # fmt: skip


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two grey images, lightly blurred (resampling differs)."""
    ga, gb = (
        cv2.GaussianBlur(cv2.cvtColor(i, cv2.COLOR_BGR2GRAY).astype(np.float64), (0, 0), 1.5)
        for i in (a, b)
    )
    ga, gb = ga - ga.mean(), gb - gb.mean()
    return float((ga * gb).sum() / math.sqrt((ga * ga).sum() * (gb * gb).sum()))


@pytest.fixture(scope="module")
def source() -> np.ndarray:
    """The sample panorama at 2048x1024 (tiles of 640 px, three levels)."""
    img = cv2.imread(str(Path(__file__).parents[1] / "data" / "pannellum_examplepano.jpg"))
    assert img is not None
    return cv2.resize(img, (2048, 1024), interpolation=cv2.INTER_AREA)


@pytest.fixture
def published(
    settings: Settings, tmp_path: Path, source: np.ndarray, viewer_modules: Path,
    serve: Callable[[FastAPI], str],
) -> Iterator[str]:  # fmt: skip
    """URL of the scene page of one freshly published scene."""
    harness = Harness(settings)
    path = tmp_path / "summit.jpg"
    ok, buf = cv2.imencode(".jpg", source, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    path.write_bytes(buf.tobytes())
    capture_id = harness.ingest(file_candidate(path))
    harness.drain()
    capture = harness.app.ledger.get(capture_id)
    assert capture.state == State.PUBLISHED, capture.reason
    base = serve(
        create_api(settings, settings.redis_url or "", store=harness.store, viewers=viewer_modules)
    )
    yield f"{base}/scene/{capture.site}/{capture.scene}"


def render(page: Page, url: str, shot: Path) -> tuple[np.ndarray, list[str], list[str]]:
    """Load the page, wait for the viewer and quiet network; the view, tiles, failures."""
    tiles: list[str] = []
    failed: list[str] = []

    def on_response(response: Response) -> None:
        if "/tiles/" in response.url or response.url.endswith("preview.jpg"):
            tiles.append(response.url)
        if response.status >= 400:
            failed.append(f"{response.status} {response.url}")

    def on_failed(request: Request) -> None:
        failed.append(f"{request.failure} {request.url}")

    page.on("response", on_response)
    page.on("requestfailed", on_failed)
    try:
        page.goto(url)
        page.wait_for_function("window.panodockScene && panodockScene.state !== 'loading'")
        state = page.evaluate("window.panodockScene")
        assert state["state"] == "ready", state
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)  # the last tiles' textures reach the canvas
        png = page.locator("#pano").screenshot(path=str(shot))
    finally:
        page.remove_listener("response", on_response)
        page.remove_listener("requestfailed", on_failed)
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, f"unreadable screenshot {shot}"
    return img, tiles, failed


@pytest.mark.parametrize("viewer", VIEWERS)
def test_each_viewer_shows_the_published_scene(
    viewer: str, published: str, browser: Browser, source: np.ndarray, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": SIZE[0], "height": SIZE[1]})
    try:
        for yaw, pitch, vfov in VIEWS:
            shot = tmp_path / f"{viewer}_{yaw:+.0f}_{pitch:+.0f}.png"
            url = f"{published}?viewer={viewer}&yaw={yaw}&pitch={pitch}&vfov={vfov}"
            img, tiles, failed = render(page, url, shot)
            assert not failed, f"{viewer}: failed requests {failed}"
            assert any("/tiles/" in t for t in tiles), f"{viewer} loaded no tile"
            assert img.std() > 20, f"{viewer}: blank canvas ({shot})"
            size = (img.shape[1], img.shape[0])
            expected = perspective(source, yaw, pitch, vfov, size)
            score = ncc(img, expected)
            elsewhere = ncc(img, perspective(source, yaw + 90, pitch, vfov, size))
            assert score > 0.9, f"{viewer} at yaw {yaw} pitch {pitch}: NCC {score:.3f} ({shot})"
            assert elsewhere < score - 0.3, (
                f"{viewer}: a view 90° off matches too ({elsewhere:.3f})"
            )
            # The right colours in the right place, not just the right texture.
            mean_diff = np.abs(img.astype(int) - expected.astype(int)).mean()
            assert mean_diff < 25, f"{viewer}: mean colour difference {mean_diff:.1f}"
    finally:
        page.close()
