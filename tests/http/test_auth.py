"""Credentials, roles, the Host allow-list, the login cookie: against a real Redis."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from config.errors import ConfigError
from config.settings import Settings
from tests.http.conftest import ADMIN_TOKEN, Service, bearer, build
from workers.access.apikeys import ApiKeys, Role
from workers.http.api import create_api
from workers.http.auth import RedactTokens

TILE = "/objects/scenes/school/gym/v1/tiles/1/f/0/0.jpg"
READS = ("/api/status", "/api/captures", "/metrics", TILE, "/scene/school/gym", "/ops")


def test_reads_need_a_credential_401_without_403_wrong(service: Service) -> None:
    client = service.client()
    for path in READS:
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers=bearer("x" * 40)).status_code == 403, path
        # The token without "Bearer " is no credential at all.
        assert client.get(path, headers={"Authorization": ADMIN_TOKEN}).status_code == 401, path
        assert client.get(path, headers=bearer(ADMIN_TOKEN)).status_code == 200, path
    assert client.get(TILE, headers=bearer(ADMIN_TOKEN)).content.startswith(bytes(range(10)))
    assert "<form" in client.get("/ops").text  # the console asks for the token
    assert client.get("/healthz").status_code == 200
    assert client.get("/objects/raw/" + "a" * 64 + "/original.jpg",
                      headers=bearer(ADMIN_TOKEN)).status_code == 404  # fmt: skip


def test_a_key_alone_makes_the_service_private(settings: Settings) -> None:
    service = build(settings, token=None)
    client = service.client()
    assert client.get(TILE).status_code == 200  # nothing configured: open on loopback
    assert service.client(client=("192.0.2.9", 4000)).get(TILE).status_code == 403
    assert client.post("/api/dead/requeue").status_code == 401  # nobody may act
    ApiKeys(client=service.app.state.access.keys.client).create(Role.viewer, label="v")
    assert client.get(TILE).status_code == 401


@pytest.mark.parametrize("length", [3, 16, 31])
def test_short_admin_tokens_are_refused_at_start(settings: Settings, length: int) -> None:
    token = ("Zq9" * 11)[:length]
    with pytest.raises(ConfigError, match="PANODOCK_SERVE_TOKEN") as caught:
        create_api(settings.model_copy(update={"serve_token": SecretStr(token)}), "redis://x")
    assert token not in str(caught.value)


def test_a_wrong_host_header_gets_400(service: Service) -> None:
    client = service.client()
    ok = bearer(ADMIN_TOKEN)
    for host in ("localhost", "localhost:8080", "127.0.0.1:8080", "[::1]:8080"):
        assert client.get("/healthz", headers={"Host": host}).status_code == 200, host
    for host in ("evil.example", "evil.example:8080", "127.0.0.1.evil.example", ""):
        assert client.get("/api/status", headers={**ok, "Host": host}).status_code == 400, host


def test_roles_viewer_operator_admin(service: Service) -> None:
    keys: ApiKeys = service.app.state.access.keys
    _, viewer = keys.create(Role.viewer, label="county 911", sites=["school"])
    _, operator = keys.create(Role.operator, label="night shift")
    _, admin = keys.create(Role.admin, label="it")
    client = service.client()
    share = {"site": "school", "label": "fire", "expires": "1d"}

    assert client.get(TILE, headers=bearer(viewer)).status_code == 200
    assert client.get("/objects/scenes/other/hall/v1/tiles/1/f/0/0.jpg",
                      headers=bearer(viewer)).status_code == 403  # fmt: skip
    assert client.get("/api/status", headers=bearer(viewer)).status_code == 403
    assert client.post("/api/captures/abc/retry", headers=bearer(viewer)).status_code == 403
    assert client.post("/api/dead/requeue", headers=bearer(viewer)).status_code == 403

    assert client.post("/api/captures/abc/retry", headers=bearer(operator)).status_code == 404
    assert client.post("/api/dead/requeue", headers=bearer(operator)).status_code == 200
    assert client.post("/api/shares", json=share, headers=bearer(operator)).status_code == 403
    assert client.get("/api/shares", headers=bearer(operator)).status_code == 403

    made = client.post("/api/shares", json=share, headers=bearer(admin))
    assert made.status_code == 200 and made.json()["url"].endswith(f"/s/{made.json()['token']}/")
    assert client.post("/api/shares", json=share, headers=bearer(ADMIN_TOKEN)).status_code == 200


def test_revoked_and_expired_keys_stop(service: Service) -> None:
    keys: ApiKeys = service.app.state.access.keys
    key, secret = keys.create(Role.operator, label="temp")
    client = service.client()
    assert client.get("/api/status", headers=bearer(secret)).status_code == 200
    keys.revoke(key.id)
    assert client.get("/api/status", headers=bearer(secret)).status_code == 403


def test_the_console_logs_in_once_with_an_httponly_strict_cookie(service: Service) -> None:
    client = service.client(follow_redirects=False)
    refused = client.post("/login", data={"token": "wrong"})
    assert refused.status_code == 403 and "panodock_session" not in refused.headers.get(
        "set-cookie", "")  # fmt: skip
    done = client.post("/login", data={"token": ADMIN_TOKEN})
    assert done.status_code == 303 and done.headers["location"] == "/ops"
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert ADMIN_TOKEN not in cookie
    assert client.get("/api/status").status_code == 200
    assert client.get("/ops").status_code == 200
    assert client.post("/logout").status_code == 303
    client.cookies.clear()
    assert client.get("/api/status").status_code == 401


def test_no_swagger_ui_only_the_openapi_document(service: Service) -> None:
    client = service.client()
    assert client.get("/api/docs").status_code in (401, 404)
    assert client.get("/api/redoc").status_code in (401, 404)
    assert client.get("/api/openapi.json").json()["info"]["title"] == "panodock"


def test_no_token_in_any_log_line(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = service.client()
    made = client.post("/api/shares", json={"site": "school", "label": "pd"},
                       headers=bearer(ADMIN_TOKEN)).json()  # fmt: skip
    token = made["token"]
    client.get(f"/s/{token}/objects/sites/school/tour.json")
    client.get(f"/s/{token}x/objects/sites/school/tour.json")
    client.get("/api/status", headers=bearer("y" * 40))
    # uvicorn's access log line, through the filter panodock serve installs.
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GET", f"/s/{token}/objects/x", "1.1", 200),
        None,
    )
    RedactTokens().filter(record)
    caplog.records.append(record)
    # httpx's lines are the test's own client, not the service.
    lines = [r.getMessage() for r in caplog.records if r.name != "httpx"]
    assert lines and not [x for x in lines if token in x or ADMIN_TOKEN in x]
