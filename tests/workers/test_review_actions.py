"""``panodock review`` on the host and the review API with an operator's key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from tests.support.pipeline import Harness, file_candidate
from tests.workers.review_support import warn, with_checks
from workers.access.apikeys import ApiKeys, Role
from workers.access.audit import AuditLog
from workers.cli.command import HANDLER
from workers.cli.main import _parser
from workers.http.api import create_api
from workers.ops.review import cli_user
from workers.sites.registry import load_site
from workers.state.ledger import State


def _cli(settings: Settings, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    args = _parser().parse_args(list(argv))
    code = getattr(args, HANDLER).run(args, settings)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _hold(harness: Harness, tmp_path: Path, jpeg: bytes, names: list[str]) -> list[str]:
    ids = []
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    for i, name in enumerate(names):
        data = cv2.imencode(".jpg", cv2.flip(img, 1) if i % 2 else img,
                            [cv2.IMWRITE_JPEG_QUALITY, 90 - i])[1].tobytes()  # fmt: skip
        (tmp_path / f"{name}.jpg").write_bytes(data)
        ids.append(harness.ingest(file_candidate(tmp_path / f"{name}.jpg")))
    harness.drain()
    assert all(harness.app.ledger.get(i).state == State.REVIEW for i in ids)
    return ids


def test_the_review_command_lists_approves_rejects_and_fixes(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    harness = Harness(settings)
    with_checks(harness, [warn()])
    gym, lab, hall = _hold(harness, tmp_path, small_pano_jpeg, ["gym", "lab", "hall"])

    code, out = _cli(settings, capsys, "review", "list")
    assert code == 0 and "3 capture(s) in review" in out
    assert f"{gym[:12]}  default/gym-" in out and "level: the horizon is rolled 12 deg" in out

    code, out = _cli(settings, capsys, "review", "approve", gym[:8], "--note", "fine")
    assert code == 0 and "is published" in out
    assert harness.app.ledger.get(gym).state == State.PUBLISHED
    code, out = _cli(settings, capsys, "review", "approve", gym)
    assert code == 1 and "is published, not in review" in out

    code, out = _cli(settings, capsys, "review", "reject", lab, "--reason", "wrong room")
    assert code == 0
    assert harness.app.ledger.get(lab).reason == f"rejected by {cli_user()}: wrong room"

    code, out = _cli(settings, capsys, "review", "fix", hall, "--roll", "4", "--blur", "10,0,20")
    assert code == 2 and "review" in out  # a region needs four numbers
    code, out = _cli(settings, capsys, "review", "fix", hall, "--roll", "4",
                     "--blur", "10,0,20,15")  # fmt: skip
    assert code == 0 and "queued" in out
    fixed = harness.app.ledger.get(hall)
    assert fixed.state == State.QUEUED and fixed.overrides.roll_deg == 4.0
    assert [r.width_deg for r in fixed.blur_regions] == [20.0]

    # Each action is in the capture's history with who, and in the audit stream.
    for capture_id in (gym, lab, hall):
        assert harness.app.ledger.history(capture_id)[-1].by == cli_user()
    audit = AuditLog(client=harness.app.ledger.client, days=1)
    paths = [e.path for e in audit.read(limit=10)]
    assert f"review approve {gym}" in paths and f"review fix {hall}" in paths


def test_a_site_policy_is_set_and_shown_from_the_command_line(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _cli(settings, capsys, "review", "policy", "North-Campus")
    assert code == 0 and out.strip() == "site north-campus: review on_warning (PANODOCK_REVIEW)"
    code, out = _cli(settings, capsys, "review", "policy", "north-campus", "always")
    assert code == 0 and "review always (the site's own policy)" in out
    harness = Harness(settings)
    site = load_site(harness.store, "north-campus")
    assert site is not None and site.review == "always"
    code, out = _cli(settings, capsys, "review", "policy", "north-campus", "default")
    assert "review on_warning (PANODOCK_REVIEW)" in out
    with pytest.raises(SystemExit):
        _cli(settings, capsys, "review", "policy", "north-campus", "sometimes")


def test_the_review_api_needs_an_operator_and_records_the_key_as_who(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes
) -> None:
    harness = Harness(settings)
    with_checks(harness, [warn()])
    gym, lab, hall = _hold(harness, tmp_path, small_pano_jpeg, ["gym", "lab", "hall"])
    app = create_api(settings, settings.redis_url or "", store=harness.store)
    client = TestClient(app, base_url="http://localhost", client=("127.0.0.1", 50000))

    # No credential configured: loopback may look, nobody may act.
    assert len(client.get("/api/review").json()["items"]) == 3
    assert client.post(f"/api/review/{gym}/approve", json={}).status_code == 401

    keys = ApiKeys(client=harness.app.ledger.client)
    _, viewer = keys.create(Role.viewer, label="county viewer")
    _, operator = keys.create(Role.operator, label="night operator", expires_in=timedelta(days=1))
    as_viewer = {"Authorization": f"Bearer {viewer}"}
    as_operator = {"Authorization": f"Bearer {operator}"}
    assert client.get("/api/review", headers=as_viewer).status_code == 403
    assert client.get(f"/api/review/{gym}/tiles/1/f/0/0.jpg", headers=as_viewer).status_code == 403
    assert client.post(f"/api/review/{gym}/approve", headers=as_viewer).status_code == 403

    faces = client.get(f"/api/review/{gym}/faces", headers=as_operator).json()
    assert faces["faces"] == [] and faces["equirect"]["width"] == 2 * faces["equirect"]["height"]
    scene = client.get(f"/api/review/{gym}/scene.json", headers=as_operator).json()
    assert scene["version"] == harness.app.ledger.get(gym).version

    done = client.post(f"/api/review/{gym}/approve", headers=as_operator, json={"note": "ok"})
    assert done.status_code == 200 and done.json()["state"] == "published"
    assert client.post(f"/api/review/{gym}/approve", headers=as_operator).status_code == 409
    assert client.post(f"/api/review/{lab}/reject", headers=as_operator, json={}).status_code == 422
    rejected = client.post(f"/api/review/{lab}/reject", headers=as_operator,
                           json={"reason": "a student's face, unblurred"})  # fmt: skip
    assert rejected.json()["state"] == "failed"
    bad = client.post(f"/api/review/{hall}/fix", headers=as_operator, json={"pitch_deg": 95})
    assert bad.status_code == 422
    fixed = client.post(f"/api/review/{hall}/fix", headers=as_operator,
                        json={"pitch_deg": -3, "blur": [{"yaw_deg": 5, "pitch_deg": 0,
                                                        "width_deg": 10, "height_deg": 10}]})
    assert fixed.status_code == 200 and fixed.json()["state"] == "queued"
    for capture_id in (gym, lab, hall):
        by = harness.app.ledger.history(capture_id)[-1].by or ""
        assert by.startswith("night operator (key "), by
    assert client.get("/api/review", headers=as_operator).json()["items"] == []
