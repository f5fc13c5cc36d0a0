"""A site's visibility: private by default, ``panodock site visibility`` opens and closes
it, and the S3 bucket policy follows at once (a real SeaweedFS, anonymous GETs with urllib).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from config.settings import Settings
from tests.sites.conftest import run_cli
from tests.support.pipeline import Harness, file_candidate
from tests.support.seaweed import SeaweedS3
from workers.contract.keys import SceneKeys, site_key
from workers.contract.site import Site
from workers.pipeline.render import iter_tile_keys
from workers.sites.registry import public_sites
from workers.store.factory import make_store
from workers.store.local import LocalStore
from workers.store.s3 import S3Store


def _anonymous(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_published_site_is_private_until_it_opts_in_and_after_it_opts_out(
    s3_settings: Settings, seaweed: SeaweedS3, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    harness = Harness(s3_settings)
    store = harness.store
    assert isinstance(store, S3Store)
    store.bootstrap()
    (tmp_path / "lobby.jpg").write_bytes(small_pano_jpeg)
    capture_id = harness.ingest(file_candidate(tmp_path / "lobby.jpg"))
    harness.drain()
    keys, manifest = harness.published(capture_id)
    site = keys.site
    tile = next(key for key, _ in iter_tile_keys(keys, manifest.tiles))
    raw = harness.app.ledger.get(capture_id).files[0].key
    other = SceneKeys("other-site", "gym", keys.version).tile(1, "f", 0, 0)
    store.put(other, b"tile of another site")
    base = f"http://{seaweed.endpoint}/{store.bucket}"

    def readable() -> dict[str, int]:
        return {
            k: _anonymous(f"{base}/{k}")
            for k in (tile, keys.manifest, keys.current, other, raw, site_key(site))
        }

    assert set(readable().values()) == {403}, "private by default"

    code, out = run_cli(store, "site", "visibility", site, "public")
    assert code == 0 and f"site {site} is public" in out, out
    assert Site.model_validate_json(store.get(site_key(site))).visibility == "public"
    codes = readable()
    assert codes[tile] == codes[keys.manifest] == codes[keys.current] == 200
    assert codes[other] == 403, "another site stays private"
    assert codes[raw] == 403, "originals stay private"
    assert codes[site_key(site)] == 403, "the registry (GPS of control points) stays private"

    # A restart recomputes the policy from the registries: the site stays public.
    store.client.delete_bucket_policy(store.bucket)
    fresh = make_store(s3_settings)
    fresh.bootstrap()
    assert _anonymous(f"{base}/{tile}") == 200
    assert public_sites(fresh) == [site]

    code, out = run_cli(store, "site", "visibility", site, "private")
    assert code == 0 and f"site {site} is private" in out, out
    assert set(readable().values()) == {403}, "opting out closes it again"


def test_visibility_defaults_to_private_and_refuses_unknown_sites(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    store.put(site_key("old"), b'{"schema": "panodock.site/1", "id": "old", "buildings": []}')
    assert Site.model_validate_json(store.get(site_key("old"))).visibility == "private"
    store.put(site_key("broken"), b"{not json")
    assert public_sites(store) == [], "a registry that cannot be read counts as private"

    code, out = run_cli(store, "site", "visibility", "nowhere", "public")
    assert code == 1 and "check the name" in out
    assert not store.exists(site_key("nowhere"))

    store.put("scenes/fresh/hall/current.json", b"{}")
    code, out = run_cli(store, "site", "visibility", "Fresh", "public")
    assert code == 0 and "local store is never served without credentials" in out
    assert public_sites(store) == ["fresh"]
    code, out = run_cli(store, "site", "show", "fresh")
    assert code == 0 and "site fresh: 0 floor(s), public" in out
