"""Share links through the gateway: scope, traversal, ETag/304, Range/206/416, audit."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from tests.http.conftest import ADMIN_TOKEN, OBJECTS, TILE, Service, bearer
from workers.access.shares import Shares
from workers.cli.main import main as panodock
from workers.service.redis_server import free_port

GYM_TILE = "scenes/school/gym/v1/tiles/1/f/0/0.jpg"


def share(service: Service, **kwargs: object) -> tuple[str, str]:
    shares: Shares = service.app.state.access.shares
    made, token = shares.create("school", expires_in=timedelta(days=1), label="County 911",
                                **kwargs)  # type: ignore[arg-type]  # fmt: skip
    return made.id, token


def test_a_share_reads_its_site_and_nothing_else(service: Service) -> None:
    _, token = share(service)
    client = service.client()
    for key in (GYM_TILE, "scenes/school/gym/current.json", "sites/school/tour.json",
                "sites/school/plans/main/1.png", "schemas/scene.schema.json"):  # fmt: skip
        got = client.get(f"/s/{token}/objects/{key}")
        assert got.status_code == 200, key
        assert got.headers["cache-control"].startswith("private, max-age=")
    assert client.get(f"/s/{token}/objects/{GYM_TILE}").content == TILE
    outside = ("scenes/other/hall/v1/tiles/1/f/0/0.jpg", "sites/other/tour.json",
               "sites/school/site.json", "raw/" + "a" * 64 + "/original.jpg", "work/x")  # fmt: skip
    for key in outside:
        assert client.get(f"/s/{token}/objects/{key}").status_code == 404, key
    assert client.get(f"/s/{'x' * 43}/objects/{GYM_TILE}").status_code == 404
    assert client.get(f"/objects/{GYM_TILE}").status_code == 401  # the share is no key
    assert client.get(f"/s/{token}/").status_code == 200


def test_a_scene_share_sees_only_its_scenes(service: Service) -> None:
    _, token = share(service, scenes=["lab"])
    client = service.client()
    assert (
        client.get(f"/s/{token}/objects/scenes/school/lab/v1/tiles/1/f/0/0.jpg").status_code == 200
    )
    assert client.get(f"/s/{token}/objects/{GYM_TILE}").status_code == 404
    tour = client.get(f"/s/{token}/objects/sites/school/tour.json").json()
    assert [s["scene"] for s in tour["scenes"]] == ["lab"] and tour["links"] == []


@pytest.fixture
def server(service: Service) -> Iterator[int]:
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(service.app, host="127.0.0.1", port=port,
                                        log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    yield port
    srv.should_exit = True
    thread.join(5)


def test_traversal_and_encoded_paths_are_refused(service: Service, server: int) -> None:
    _, token = share(service)
    raw = "raw/" + "a" * 64 + "/original.jpg"
    attempts = [
        f"scenes/school/gym/../../../{raw}",
        f"scenes/school/%2e%2e/%2e%2e/{raw}",
        "scenes%2Fschool%2Fgym%2Fcurrent.json",
        f"scenes/school/gym/..%2F..%2F..%2F{raw}",
        "sites/school/..%2fother/tour.json",
        "scenes\\school\\gym\\current.json",
        "scenes/school/gym/current.json%00",
        "scenes/other/hall/v1/tiles/1/f/0/0.jpg",
        "sites/school/plans/../../other/tour.json",
        f"./{GYM_TILE}",
        f"/{GYM_TILE}",
    ]
    for attempt in attempts:
        conn = http.client.HTTPConnection("127.0.0.1", server, timeout=5)
        conn.request("GET", f"/s/{token}/objects/{attempt}", headers={"Host": "localhost"})
        got = conn.getresponse()
        body = got.read()
        assert got.status in (400, 403, 404), (attempt, got.status)
        assert body not in (b"an original", OBJECTS["sites/other/tour.json"]), attempt
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=5)
    conn.request("GET", f"/s/{token}/objects/{GYM_TILE}", headers={"Host": "localhost"})
    assert conn.getresponse().status == 200


def test_etag_304_and_ranges(service: Service) -> None:
    _, token = share(service)
    client = service.client()
    url = f"/s/{token}/objects/{GYM_TILE}"
    first = client.get(url)
    etag = first.headers["etag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    part = client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == TILE[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(TILE)}"
    tail = client.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == TILE[-10:]
    assert client.get(url, headers={"Range": "bytes=1-"}).content == TILE[1:]
    bad = client.get(url, headers={"Range": f"bytes={len(TILE)}-"})
    assert bad.status_code == 416 and bad.headers["content-range"] == f"bytes */{len(TILE)}"


def test_the_audit_and_metrics_record_the_share_never_its_token(
    service: Service, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    share_id, token = share(service)
    client = service.client()
    for _ in range(3):
        client.get(f"/s/{token}/objects/{GYM_TILE}")
    client.get(f"/s/{token}/objects/raw/x")
    service.app.state.access.writer.flush()
    entries = service.app.state.access.audit.read(share=share_id)
    assert [e.status for e in entries] == [200, 200, 200, 404]
    assert entries[0].label == "County 911" and entries[0].bytes == len(TILE)
    assert entries[0].client == "127.0.0.1" and token not in entries[0].path
    metrics = client.get("/metrics", headers=bearer(ADMIN_TOKEN)).text
    samples = {
        (s.name, s.labels.get("share")): s.value
        for f in text_string_to_metric_families(metrics)
        for s in f.samples
    }
    assert samples[("panodock_share_requests_total", share_id)] == 4
    monkeypatch.setenv("PANODOCK_REDIS_URL", service.settings.redis_url or "")
    assert panodock(["audit", "--share", share_id, "--json", "--since", "1h"]) == 0
    out = capsys.readouterr().out
    assert out.count(share_id) == 4 and token not in out
