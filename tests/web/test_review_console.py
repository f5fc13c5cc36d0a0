"""The ops console's review queue in real Chromium: a held scene is seen, then approved.

The held version (a planted real face in it, so the detector's box is drawn) is visible to
the operator in the queue and its viewer, and to the scene page only once approved.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, expect
from pydantic import SecretStr

from config.settings import Settings
from tests.conftest import jpeg_bytes
from tests.stitching.test_privacy import FACES_DIR, plant
from tests.support.pipeline import Harness, file_candidate
from tests.workers.review_support import warn, with_checks
from workers.http.api import create_api
from workers.state.ledger import State

TOKEN = "console-token-0123456789-0123456789-0"
#: A folder to keep the console's screenshot in, for a person to look at (optional).
SCREENSHOTS = os.environ.get("PANODOCK_TEST_SCREENSHOTS")


def _login(page: Page, base: str) -> None:
    page.goto(f"{base}/ops")
    page.fill("input[name=token]", TOKEN)
    page.click("#login button")
    page.wait_for_url(f"{base}/ops")


def _scene_state(page: Page, url: str) -> str:
    page.goto(url)
    page.wait_for_function("window.panodockScene && window.panodockScene.state !== 'loading'",
                           timeout=30_000)  # fmt: skip
    return str(page.evaluate("window.panodockScene.state"))


def test_the_review_queue_approves_a_held_scene_and_only_then_the_scene_page_shows_it(
    settings: Settings,
    tmp_path: Path,
    pano: np.ndarray,
    browser: Browser,
    viewer_modules: Path,
    serve: Callable[[FastAPI], str],
) -> None:
    settings = settings.model_copy(update={"serve_token": SecretStr(TOKEN), "blur": "required"})
    harness = Harness(settings)
    with_checks(harness, lambda job: [warn()] if job.capture.scene.startswith("hall") else [])
    img = cv2.resize(pano, (2048, 1024), interpolation=cv2.INTER_AREA)
    plant(img, cv2.imread(str(FACES_DIR / "astronaut.jpg")), 20.0, 5.0, size_deg=24.0)
    (tmp_path / "hall.jpg").write_bytes(jpeg_bytes(img, 92))
    (tmp_path / "lobby.jpg").write_bytes(jpeg_bytes(cv2.flip(img, 1), 92))
    (tmp_path / "hall-2.jpg").write_bytes(jpeg_bytes(cv2.flip(img, 0), 92))
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    held = harness.ingest(file_candidate(tmp_path / "hall.jpg"))
    other = harness.ingest(file_candidate(tmp_path / "hall-2.jpg"))
    harness.ingest(file_candidate(tmp_path / "lobby.jpg"))
    harness.ingest(file_candidate(tmp_path / "broken.jpg"))
    harness.drain()
    capture = harness.app.ledger.get(held)
    assert capture.state == State.REVIEW, capture.reason
    scene_url_path = f"/scene/{capture.site}/{capture.scene}"
    base = serve(create_api(settings, settings.redis_url or "", store=harness.store,
                            viewers=viewer_modules))  # fmt: skip

    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        _login(page, base)
        assert _scene_state(page, base + scene_url_path) == "error", "not live before approval"
        page.goto(f"{base}/ops")
        row = page.locator(f"#review tr[data-capture='{held}']")
        expect(row).to_contain_text("level: the horizon is rolled 12 deg")
        expect(row.locator("img.thumb")).to_have_js_property("complete", True)
        assert row.locator("img.thumb").evaluate("i => i.naturalWidth") > 0
        expect(page.locator("#scenes img.thumb")).to_have_count(1)  # the published lobby
        expect(page.locator("#failures tr img.thumb, #failures tr span.thumb")).to_have_count(1)

        # Nothing is cut at 1280 px: every table fits its section, every section the window.
        cut = page.evaluate("""() => [...document.querySelectorAll('table')].filter((t) => {
            const s = t.closest('section');
            return t.scrollWidth > s.clientWidth || s.getBoundingClientRect().right > innerWidth;
        }).map((t) => t.id)""")
        assert cut == [], f"tables cut at 1280 px: {cut}"

        row.get_by_role("button", name="View").click()
        detail = page.locator("#review-detail")
        expect(detail).to_have_attribute("data-viewer", "ready", timeout=30_000)
        faces = page.locator("#review-equirect .face")
        expect(faces).not_to_have_count(0)
        box = faces.first.bounding_box()
        frame = page.locator("#review-equirect .frame").bounding_box()
        assert box and frame
        # The astronaut is at yaw 20, pitch 5: 55.6 % across, 47 % down the equirect.
        assert abs((box["x"] + box["width"] / 2 - frame["x"]) / frame["width"] - 0.556) < 0.03
        assert abs((box["y"] + box["height"] / 2 - frame["y"]) / frame["height"] - 0.47) < 0.05
        page.screenshot(path=str(tmp_path / "review-console.png"), full_page=True)
        if SCREENSHOTS:
            shutil.copy(tmp_path / "review-console.png", Path(SCREENSHOTS) / "review-console.png")

        row.locator("input[name=note]").fill("checked on site")
        row.get_by_role("button", name="Approve").click()
        expect(page.locator("#state")).to_contain_text("approved")
        expect(row).to_have_count(0)
        assert _scene_state(page, base + scene_url_path) == "ready", "live once approved"

        # The other held scene is fixed from the form: rendered again with the roll given.
        page.goto(f"{base}/ops")
        second = page.locator(f"#review tr[data-capture='{other}']")
        second.get_by_role("button", name="View").click()
        fix = page.locator("#review-fix")
        fix.locator("input[name=roll_deg]").fill("-2.5")
        fix.locator("input[name=blur]").fill("10,0,20,15")
        fix.get_by_role("button", name="Fix and render again").click()
        expect(page.locator("#state")).to_contain_text("queued with the fix")
        expect(page.locator("#review-detail")).to_be_hidden()
    finally:
        page.close()
    done = harness.app.ledger.get(held)
    assert done.state == State.PUBLISHED and done.approvals[0].note == "checked on site"
    assert done.approvals[0].by == "PANODOCK_SERVE_TOKEN (admin admin)"
    fixed = harness.app.ledger.get(other)
    assert fixed.state == State.QUEUED and fixed.overrides.roll_deg == -2.5
    assert [(r.yaw_deg, r.width_deg) for r in fixed.blur_regions] == [(10.0, 20.0)]
