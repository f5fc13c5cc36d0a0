"""The ops console in real Chromium: a failure, its reason, and the retry button."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from playwright.sync_api import Browser, expect
from pydantic import SecretStr

from config.settings import Settings
from tests.support.pipeline import Harness, file_candidate
from workers.http.api import create_api
from workers.ops.status import publish_watcher_health, queue_stats
from workers.queue.broker import QUEUE
from workers.state.ledger import State


def test_a_failure_is_shown_with_its_reason_and_retry_requeues_it(
    settings: Settings,
    tmp_path: Path,
    small_pano_jpeg: bytes,
    browser: Browser,
    serve: Callable[[FastAPI], str],
) -> None:
    token = "ops-token-0123456789-0123456789-0123"
    settings = settings.model_copy(update={"serve_token": SecretStr(token)})
    harness = Harness(settings)
    (tmp_path / "lobby.jpg").write_bytes(small_pano_jpeg)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    ok = harness.ingest(file_candidate(tmp_path / "lobby.jpg"))
    bad = harness.ingest(file_candidate(tmp_path / "broken.jpg"))
    harness.drain()
    failed = harness.app.ledger.get(bad)
    assert failed.state == State.QUARANTINED and failed.reason
    camera = {
        "name": "theta", "kind": "osc", "site": "default", "online": False,
        "detail": "camera not reachable at http://192.168.1.1", "last_scan_at": None,
        "files_pending": 0, "files_imported": 3, "errors": 1, "last_error": "timed out",
    }  # fmt: skip
    publish_watcher_health(harness.app.ledger.client, "source:theta", camera, ttl_seconds=60)
    base = serve(create_api(settings, settings.redis_url or "", store=harness.store))

    page = browser.new_page(viewport={"width": 1200, "height": 900})
    try:
        # The console asks once for the token, then keeps a session cookie.
        page.goto(f"{base}/ops")
        page.fill("input[name=token]", "ops-token-0123456789-0123456789-0123")
        page.click("#login button")
        page.wait_for_url(f"{base}/ops")
        row = page.locator(f"#failures tr[data-capture='{bad}']")
        expect(row).to_contain_text("broken.jpg")
        expect(row.locator(".reason")).to_have_text(failed.reason)
        expect(page.locator("#scenes a")).to_have_count(1)
        # A capture source says whether it is online and why not, not "undefined scans".
        expect(page.locator("#watchers")).to_contain_text(
            "osc source theta: OFFLINE (camera not reachable at http://192.168.1.1), "
            "3 imported, 0 pending, 1 errors"
        )
        assert harness.app.ledger.get(ok).scene in page.locator("#scenes a").inner_text()
        page.screenshot(path=str(tmp_path / "ops-before.png"), full_page=True)

        # A wrong typed token is refused and nothing moves; without one, the session acts.
        page.fill("#token", "wrong-token")
        page.dispatch_event("#token", "change")
        row.get_by_role("button", name="Retry").click()
        expect(page.locator("#state")).to_contain_text("not valid")
        assert harness.app.ledger.get(bad).state == State.QUARANTINED

        page.fill("#token", "")
        page.dispatch_event("#token", "change")
        row.get_by_role("button", name="Retry").click()
        expect(page.locator("#state")).to_contain_text("queued again")
        expect(row).to_have_count(0)  # the next refresh drops it from the failures
        page.screenshot(path=str(tmp_path / "ops-after.png"), full_page=True)
    finally:
        page.close()
    assert harness.app.ledger.get(bad).state == State.QUEUED
    assert harness.app.ledger.history(bad)[-1].detail == "retry requested"
    stats = queue_stats(harness.app.ledger.client, QUEUE, heartbeat_seconds=3)
    assert stats.ready == 1, "the retry put one job on the dramatiq queue"
