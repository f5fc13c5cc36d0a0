"""A share link's page in real Chromium: the site, then a scene in the viewer, every tile."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from playwright.sync_api import Browser, Request, Response
from pydantic import SecretStr

from config.settings import Settings
from tests.support.pipeline import Harness, file_candidate
from workers.http.api import create_api
from workers.state.ledger import State


def test_the_share_page_loads_every_tile_and_the_audit_records_it(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes, viewer_modules: Path,
    browser: Browser, serve: Callable[[FastAPI], str],
) -> None:  # fmt: skip
    settings = settings.model_copy(update={"serve_token": SecretStr("t" * 40)})
    harness = Harness(settings)
    (tmp_path / "gym.jpg").write_bytes(small_pano_jpeg)
    capture = harness.app.ledger.get(harness.ingest(file_candidate(tmp_path / "gym.jpg")))
    harness.drain()
    capture = harness.app.ledger.get(capture.id)
    assert capture.state == State.PUBLISHED, capture.reason
    api = create_api(
        settings, settings.redis_url or "", store=harness.store, viewers=viewer_modules
    )
    access = api.state.access
    share, token = access.shares.create(capture.site, expires_in=timedelta(hours=1), label="911")
    base = serve(api)

    failed: list[str] = []
    tiles: list[str] = []

    def on_response(response: Response) -> None:
        if "/tiles/" in response.url:
            tiles.append(response.url)
        if response.status >= 400:
            failed.append(f"{response.status} {response.url}")

    def on_failed(request: Request) -> None:
        failed.append(f"{request.failure} {request.url}")

    page = browser.new_page(viewport={"width": 640, "height": 480})
    page.on("response", on_response)
    page.on("requestfailed", on_failed)
    try:
        page.goto(f"{base}/s/{token}/")
        page.wait_for_function("window.panodockShare && panodockShare.state !== 'loading'")
        assert page.evaluate("panodockShare.state") == "ready", page.evaluate("panodockShare")
        assert page.evaluate("panodockShare.scenes") == [capture.scene]
        page.click(f"a[data-scene='{capture.scene}']")
        page.wait_for_function("window.panodockScene && panodockScene.state !== 'loading'")
        assert page.evaluate("panodockScene.state") == "ready", page.evaluate("panodockScene")
        page.wait_for_load_state("networkidle")
        assert tiles and all(f"/s/{token}/objects/scenes/" in t for t in tiles)
        # Every tile of the scene, fetched by the page through the share.
        pointer = json.loads(
            harness.store.get(f"scenes/{capture.site}/{capture.scene}/current.json")
        )
        manifest = json.loads(harness.store.get(pointer["manifest"]))
        every = list(harness.store.list(manifest["base"].rstrip("/") + "/tiles/"))
        assert len(every) >= 6  # one per cube face at least
        statuses = page.evaluate(
            "async ([base, keys]) =>"
            " Promise.all(keys.map(async k => (await fetch(base + k)).status))",
            [f"/s/{token}/objects/", every],
        )
        assert statuses == [200] * len(every)
        assert not failed, failed
    finally:
        page.close()
    access.writer.flush()
    entries = access.audit.read(share=share.id)
    served = {e.path.removeprefix("/s/<redacted>/objects/") for e in entries if e.status == 200}
    assert set(every) <= served  # the browser caches repeats (Cache-Control: private)
    assert {e.label for e in entries} == {"911"} and all(token not in e.path for e in entries)
