"""A site that opted in to ``visibility: public`` is readable anonymously over HTTP too.

The local store has no bucket policy, so the status service is what keeps a private site
private: with credentials configured, a public site's scenes, tour and plans (and the JSON
Schemas) answer without one; its registry, other sites and originals still need one, and
making the site private again closes it within the visibility cache's few seconds.
"""

from __future__ import annotations

import time

import pytest

from tests.http.conftest import ADMIN_TOKEN, Service, bearer
from workers.contract.keys import site_key
from workers.contract.site import Site
from workers.http import pages
from workers.sites.registry import set_visibility

TILE = "/objects/scenes/school/gym/v1/tiles/1/f/0/0.jpg"


@pytest.fixture
def public_school(service: Service) -> Service:
    service.store.put(site_key("school"), Site(id="school").model_dump_json().encode())
    set_visibility(service.store, "school", "public")
    return service


def test_a_private_site_needs_a_credential(service: Service) -> None:
    service.store.put(site_key("school"), Site(id="school").model_dump_json().encode())
    with service.client() as client:
        assert client.get(TILE).status_code == 401
        assert client.get(TILE, headers=bearer(ADMIN_TOKEN)).status_code == 200


def test_a_public_site_is_readable_anonymously_and_only_its_prefixes(
    public_school: Service,
) -> None:
    with public_school.client() as client:
        for path in (
            TILE,
            "/objects/scenes/school/gym/current.json",
            "/objects/sites/school/tour.json",
            "/objects/sites/school/plans/main/1.png",
            "/objects/schemas/scene.schema.json",
            "/scene/school/gym",
        ):
            assert client.get(path).status_code == 200, path
        for path in (
            "/objects/sites/school/site.json",  # control points carry GPS positions
            "/objects/scenes/other/hall/v1/tiles/1/f/0/0.jpg",
            "/objects/sites/other/tour.json",
            "/scene/other/hall",
            "/ops",
        ):
            assert client.get(path).status_code == 401, path
        assert client.get("/objects/raw/" + "a" * 64 + "/original.jpg").status_code == 404


def test_opting_out_closes_the_site_again(public_school: Service) -> None:
    with public_school.client() as client:
        assert client.get(TILE).status_code == 200
        set_visibility(public_school.store, "school", "private")
        deadline = time.monotonic() + pages.VISIBILITY_SECONDS + 2.0
        while client.get(TILE).status_code == 200:
            assert time.monotonic() < deadline, "still public after the visibility changed"
            time.sleep(0.2)
        assert client.get(TILE).status_code == 401
