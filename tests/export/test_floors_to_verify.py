"""The ops console's list of floors to walk through, from ``GET /api/floors-to-verify``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from pydantic import SecretStr

from config.settings import Settings
from tests.sites.conftest import make_floor, make_site
from workers.contract.site import Verification
from workers.http.api import create_api
from workers.sites.registry import update_site
from workers.store.factory import make_store

TOKEN = "ops-token-for-tests-0123456789abcdef"


def test_the_console_lists_floors_never_or_long_ago_verified(settings: Settings) -> None:
    settings = settings.model_copy(update={"serve_token": SecretStr(TOKEN)})
    store = make_store(settings)
    today = datetime.now(UTC).date()
    walked = [
        Verification(floor="main/2", by="A. Lee", date=today - timedelta(days=400),
                     recorded_at=datetime(2025, 1, 5, tzinfo=UTC)),
        Verification(floor="main/3", by="J. Ortiz", date=today, note="annual",
                     recorded_at=datetime.now(UTC)),
    ]  # fmt: skip
    # No scene is published anywhere: the floors come from the registries themselves.
    site = make_site(make_floor("1"), make_floor("2"), make_floor("3"))
    update_site(store, "campus", lambda _: site.model_copy(update={"verifications": walked}))
    annex = make_site(make_floor("1")).model_copy(update={"id": "annex"})
    update_site(store, "annex", lambda _: annex)
    client = TestClient(create_api(settings, settings.redis_url or "", store=store),
                        base_url="http://localhost", client=("127.0.0.1", 50000))  # fmt: skip
    assert client.get("/api/floors-to-verify").status_code == 401
    got = client.get("/api/floors-to-verify", headers={"Authorization": f"Bearer {TOKEN}"})
    assert got.status_code == 200
    assert got.json() == [
        {"site": "annex", "floor": "main/1", "reason": "never verified", "last_verified": None,
         "by": None},
        {"site": "campus", "floor": "main/1", "reason": "never verified", "last_verified": None,
         "by": None},
        {"site": "campus", "floor": "main/2", "reason": "last verified 400 days ago",
         "last_verified": (today - timedelta(days=400)).isoformat(), "by": "A. Lee"},
    ]  # fmt: skip
