"""A status service over a local store holding two sites' objects, originals and schemas."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from config.settings import Settings
from workers.http.api import create_api
from workers.store.base import ObjectStore
from workers.store.factory import make_store

#: The admin token of these tests (>= 32 characters).
ADMIN_TOKEN = "admin-token-for-tests-0123456789abcdef"
TILE = bytes(range(256)) * 40  # 10 kB
OBJECTS = {
    "scenes/school/gym/v1/tiles/1/f/0/0.jpg": TILE,
    "scenes/school/gym/v1/scene.json": b'{"scene": "gym"}',
    "scenes/school/gym/current.json": b'{"manifest": "scenes/school/gym/v1/scene.json"}',
    "scenes/school/lab/v1/tiles/1/f/0/0.jpg": TILE[:5000],
    "scenes/other/hall/v1/tiles/1/f/0/0.jpg": b"other site's tile",
    "sites/school/tour.json": json.dumps(
        {
            "site": "school",
            "scenes": [{"scene": "gym"}, {"scene": "lab"}],
            "links": [{"source": "gym", "target": "lab"}],
            "points_of_interest": [{"scene": "lab", "kind": "exit"}],
            "needs_placement": ["gym", "lab"],
            "needs_heading": [],
        }
    ).encode(),
    "sites/school/site.json": b'{"site": "school"}',
    "sites/school/plans/main/1.png": b"\x89PNG plan",
    "sites/other/tour.json": b'{"site": "other"}',
    "schemas/scene.schema.json": b"{}",
    "raw/" + "a" * 64 + "/original.jpg": b"an original",
}
LOCAL = ("127.0.0.1", 50000)


@dataclass
class Service:
    """The app, its store and settings."""

    app: FastAPI
    store: ObjectStore
    settings: Settings

    def client(self, **kwargs: object) -> TestClient:
        kwargs.setdefault("client", LOCAL)
        kwargs.setdefault("base_url", "http://localhost")
        return TestClient(self.app, **kwargs)  # type: ignore[arg-type]


def build(settings: Settings, *, token: str | None = ADMIN_TOKEN) -> Service:
    settings = settings.model_copy(update={"serve_token": SecretStr(token) if token else None})
    store = make_store(settings)
    for key, body in OBJECTS.items():
        store.put(key, body)
    return Service(create_api(settings, settings.redis_url or "", store=store), store, settings)


@pytest.fixture
def service(settings: Settings) -> Service:
    """The status service with the admin token configured."""
    return build(settings)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
