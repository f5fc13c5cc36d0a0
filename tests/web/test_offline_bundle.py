"""The offline bundle opened from file:// in real Chromium: the floor map, then a scene.

The site is published by the real pipeline (tests/export/site_builder.py) and exported with
the pinned viewers; the test opens ``offline/index.html`` as a file, with no server at all,
and fails on any failed request, page error or console error.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import Browser

from config.settings import Settings
from tests.export.site_builder import publish_site
from tests.sites.conftest import SITE
from workers.export.run import ExportOptions, run_export


def test_bundle_from_file_shows_the_map_and_a_scene(
    settings: Settings, tmp_path: Path, pano: np.ndarray, browser: Browser, viewer_modules: Path
) -> None:
    harness = publish_site(settings, tmp_path / "captures", pano)
    report = run_export(
        harness.store, SITE, tmp_path / "out", ExportOptions(viewers=viewer_modules, png=False)
    )
    index = tmp_path / "out" / "offline" / "index.html"
    assert f"{SITE}-offline.zip" in report.files

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
    page.on("pageerror", lambda e: failed.append(f"page error: {e}"))
    page.on("console", lambda m: failed.append(m.text) if m.type == "error" else None)
    page.goto(index.as_uri())
    page.wait_for_selector("body[data-ready=yes]")
    plan_loaded = page.evaluate(
        """() => new Promise((done) => {
            const img = new Image();
            img.onload = () => done(img.naturalWidth);
            img.onerror = () => done(0);
            img.src = document.querySelector("svg.map image").getAttribute("href");
        })"""
    )
    assert plan_loaded == 1200
    assert page.locator("a.scene-marker").count() == 2
    assert page.locator("svg.map g.poi-symbol").count() == 3  # FE, door, AED; not the bikes
    assert page.locator("text=F").count() >= 1  # grid column labels
    labels = page.locator("svg.map text.poi-label").all_text_contents()
    assert "AED <b>gym</b>" in labels, "sidecar text is shown as text"
    assert page.locator("svg.map b").count() == 0
    assert page.locator("table.listing a.document").all_text_contents() == [
        "AED cabinet",  # the AED's, in the points of interest
        "Evacuation plan, wing B",  # hall-west's, in the scenes
    ]
    assert "Gym doors chained after 6 pm" in page.locator("table.scenes").inner_text()
    assert page.locator("table.scenes a.open-scene").count() == 2
    assert page.locator("svg.map .scale-bar text").all_text_contents()[:2] == ["0", "10 m"]
    document = page.locator("table.listing a.document").first
    width = page.evaluate(
        """(href) => new Promise((done) => {
            const img = new Image();
            img.onload = () => done(img.naturalWidth);
            img.onerror = () => done(0);
            img.src = href;
        })""",
        document.get_attribute("href"),
    )
    assert width == 60, "the attached photo is in the bundle"
    assert not failed, failed

    page.click("a.scene-marker[data-scene=hall-west]")
    page.wait_for_function("window.viewer && window.viewer.isLoaded()", timeout=60_000)
    assert page.url.endswith("/offline/scenes/hall-west.html")
    assert page.locator("#title").text_content() == "2. Hall West"
    assert page.locator(".pnlm-hotspot").count() == 3  # FE, door, AED seen from hall-west
    shot = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB"), float)
    view = shot[80:, :]  # below the page's header: the viewer
    assert view.std() > 30, "the panorama is drawn, not a blank canvas"
    sky, ground = view[:150].mean(axis=(0, 1)), view[-150:].mean(axis=(0, 1))
    assert sky[2] > sky[0] + 30, f"the sample's blue sky is at the top: {sky}"
    assert abs(sky - ground).sum() > 60, "sky and ground differ: the faces are not blank"
    assert not failed, failed
    page.close()
