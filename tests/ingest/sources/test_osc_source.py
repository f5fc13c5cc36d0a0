"""The Wi-Fi camera source against the simulated OSC camera (tests/support/osc_camera.py)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from pydantic import SecretStr, ValidationError

from config.errors import ConfigError
from config.sources import SourceConfig
from ingest.sources.factory import build_sources
from ingest.sources.osc import OVERLAP, OscSource
from ingest.sources.osc_client import OscClient
from tests.conftest import jpeg_bytes
from tests.ingest.test_camera_files import dng_bytes
from tests.support.osc_camera import CameraFile, OscCamera
from tests.support.sources import Intake, sha
from tests.support.waiting import wait_for
from workers.contract.keys import raw_key
from workers.service.redis_server import free_port


@pytest.fixture(scope="module")
def shots(pano: np.ndarray) -> list[bytes]:
    """Six distinct real panoramas (the sample, turned), 1024x512 JPEGs of ~100-200 KB."""
    small = cv2.resize(pano, (1024, 512), interpolation=cv2.INTER_AREA)
    return [jpeg_bytes(np.roll(small, 97 * i, axis=1), quality=92) for i in range(6)]


def load(camera: OscCamera, shots: list[bytes], n: int, first: int = 1) -> list[str]:
    names = []
    for i in range(n):
        name = f"R00{first + i:05d}.JPG"
        camera.add("100RICOH", name, shots[i], f"2026:05:01 10:{i:02d}:00+02:00",
                   width=1024, height=512)  # fmt: skip
        names.append(name)
    return names


def source(tmp_path: Path, intake: Intake, camera: OscCamera, **kw: object) -> OscSource:
    return OscSource(
        "theta",
        url=camera.url,
        deliver=intake,
        spool_root=tmp_path / "spool",
        site="s",
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def camera() -> Iterator[OscCamera]:
    with OscCamera(insta360=True, max_entries=2) as cam:
        yield cam


def imported_shas(intake: Intake) -> list[str]:
    ledger = intake.harness.app.ledger
    return [ledger.get(c).files[0].sha256 for c in intake.queued]


def listings(camera: OscCamera) -> int:
    return sum(1 for m, p, _ in camera.requests if p == "/osc/commands/execute")


def test_new_photos_are_paged_downloaded_verified_and_taken_once(
    tmp_path: Path, intake: Intake, camera: OscCamera, shots: list[bytes]
) -> None:
    load(camera, shots, 5)
    cam = source(tmp_path, intake, camera)
    try:
        assert cam.scan() == 5  # five 2:1 photos: one capture each
        assert sorted(imported_shas(intake)) == sorted(sha(s) for s in shots[:5])
        assert listings(camera) == 3  # 5 entries at most 2 per page
        before = len(camera.requests)
        assert cam.scan() == 0
        assert camera.requests[before:] == [("POST", "/osc/state", None)]  # same fingerprint
        load(camera, shots[5:], 1, first=6)
        assert cam.scan() == 1
        gets = [p for m, p, _ in camera.requests[before:] if m == "GET"]
        assert gets == ["/files/100RICOH/R0000006.JPG"]  # only the new one is downloaded
        health = cam.health()
        assert health.online and "RICOH THETA X" in health.detail and health.files_imported == 6
    finally:
        cam.stop()
    assert camera.overlaps == 0 and camera.xsrf_refused == 0 and camera.refused_bodies == 0
    assert camera.deleted == [] and len(camera.files) == 6  # delete_after_import is off
    assert intake.captures() == 6
    assert "osc theta:files/100RICOH/R0000001.JPG" in {c.origin for c in intake.candidates}


def test_a_shot_taken_while_paging_is_listed_in_the_same_scan(
    tmp_path: Path, intake: Intake, camera: OscCamera, shots: list[bytes]
) -> None:
    load(camera, shots, 5)
    camera.taken_while_listing.append(
        CameraFile("100RICOH", "R0000006.JPG", shots[5], "2026:05:01 10:05:00+02:00")
    )  # newest first: every later page shifts by one
    cam = source(tmp_path, intake, camera)
    try:
        assert cam.scan() == 6
    finally:
        cam.stop()
    assert all(len(camera.downloads(n)) == 1 for n in camera.names)
    assert sorted(imported_shas(intake)) == sorted(sha(s) for s in shots)


def test_files_are_fetched_from_the_configured_address_whatever_host_the_listing_names(
    tmp_path: Path, intake: Intake, shots: list[bytes]
) -> None:
    # In client mode behind a router's port forward, the camera names its own LAN address.
    with OscCamera(file_host="http://192.168.1.1") as camera:
        names = load(camera, shots, 2)
        cam = source(
            tmp_path, intake, camera, delete_after_import=True, archived=intake.archived_sha
        )
        try:
            assert cam.scan() == 2
        finally:
            cam.stop()
    assert all(camera.downloads(n) == [None] for n in names)
    assert sorted(camera.deleted) == names  # camera.delete got the fileUrls as listed
    assert sorted(imported_shas(intake)) == sorted(sha(s) for s in shots[:2])


def test_a_theta_raw_plus_shot_is_one_capture_its_jpeg_published_its_dng_archived(
    tmp_path: Path, intake: Intake, camera: OscCamera, shots: list[bytes]
) -> None:
    raw = dng_bytes(width=640)
    taken = "2026:05:01 10:00:00+02:00"
    camera.add("100RICOH", "R0010001.JPG", shots[0], taken, width=1024, height=512)
    camera.add("100RICOH", "R0010001.DNG", raw, taken, width=640, height=320)
    cam = source(tmp_path, intake, camera)
    try:
        assert cam.scan() == 1  # one shot: the same name but the extension
    finally:
        cam.stop()
    (capture_id,) = intake.queued
    intake.harness.drain()
    _, manifest = intake.harness.published(capture_id)
    assert manifest.kind == "equirect"  # the camera's own stitch; the raw is kept
    capture = intake.harness.app.ledger.get(capture_id)
    assert {f.name: f.sha256 for f in capture.files} == {
        "R0010001.JPG": sha(shots[0]), "R0010001.DNG": sha(raw),
    }  # fmt: skip
    assert intake.harness.store.get(raw_key(sha(raw), "R0010001.DNG")) == raw


def test_the_camera_refuses_requests_without_the_xsrf_header(camera: OscCamera) -> None:
    bare = httpx.post(camera.url + "/osc/state")
    assert bare.status_code == 403 and camera.xsrf_refused == 1
    untyped = httpx.post(  # the header, but a command body that does not say it is JSON
        camera.url + "/osc/commands/execute", headers={"X-XSRF-Protected": "1"},
        content=b'{"name": "camera.listFiles"}',
    )  # fmt: skip
    assert untyped.status_code == 400 and camera.refused_bodies == 1
    client = OscClient(camera.url)
    try:
        assert client.fingerprint() == camera.fingerprint()
    finally:
        client.close()
    assert camera.xsrf_refused == 1


def test_requests_never_overlap_even_from_two_threads(shots: list[bytes]) -> None:
    camera = OscCamera(insta360=True, seconds_per_chunk=0.01)  # a slow link: ~6 MB/s
    camera.start()
    big = shots[0] * 10  # ~1.5 MB: the download lasts while the other thread asks for state
    camera.add("100RICOH", "BIG.JPG", big, "2026:05:01 10:00:00+02:00")
    client = OscClient(camera.url)
    errors: list[BaseException] = []

    def poll() -> None:
        try:
            for _ in range(30):
                client.fingerprint()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    try:
        other = threading.Thread(target=poll)
        other.start()
        for _ in range(3):
            with client.download(camera.url + "/files/100RICOH/BIG.JPG") as response:
                assert sum(len(c) for c in response.iter_bytes()) == len(big)
        other.join()
    finally:
        client.close()
    assert not errors and camera.overlaps == 0
    # ...and the camera does catch two requests at once (so the zero above means something)
    with (
        httpx.Client(headers={"X-XSRF-Protected": "1"}) as a,
        httpx.Client(headers={"X-XSRF-Protected": "1"}) as b,
    ):
        with a.stream("GET", camera.url + "/files/100RICOH/BIG.JPG") as streaming:
            next(streaming.iter_bytes())
            assert b.post(camera.url + "/osc/state").status_code == 503
    camera.stop()
    assert camera.overlaps == 1


def test_a_cut_download_resumes_from_where_it_stopped(
    tmp_path: Path, intake: Intake, camera: OscCamera, shots: list[bytes]
) -> None:
    names = load(camera, shots, 2)
    camera.cut_next_download(names[1], 70_000)
    cam = source(tmp_path, intake, camera)
    try:
        assert cam.scan() == 2
    finally:
        cam.stop()
    # resumed at once, re-reading OVERLAP bytes before the cut to check they match
    assert camera.downloads(names[1]) == [None, f"bytes={70_000 - OVERLAP}-"]
    assert sorted(imported_shas(intake)) == sorted(sha(s) for s in shots[:2])


def test_a_camera_gone_mid_download_and_a_restart_resume_the_download_once(
    tmp_path: Path, intake: Intake, camera: OscCamera, shots: list[bytes]
) -> None:
    names = load(camera, shots, 3)
    camera.vanish_during_download(names[1], 90_000)
    first = source(tmp_path, intake, camera)
    try:
        first.scan()
        health = first.health()
        assert not health.online and camera.url in health.detail
        assert first.scan() == 0 and not first.health().online  # still gone
    finally:
        first.stop()  # panodock stops (or crashes) while the camera is away
    partials = tmp_path / "spool/theta/partial"
    kept = sorted(p.stat().st_size for p in partials.iterdir())
    assert kept == [90_000, len(shots[0])]  # the cut one, and the first, whole, not delivered
    camera.come_back()
    again = source(tmp_path, intake, camera)  # a new process on the same spool
    try:
        assert again.scan() == 3
        assert again.health().online
    finally:
        again.stop()
    assert camera.downloads(names[0]) == [None]  # kept whole: not fetched again
    assert camera.downloads(names[1]) == [None, f"bytes={90_000 - OVERLAP}-"]
    assert camera.downloads(names[2]) == [None]
    assert sorted(imported_shas(intake)) == sorted(sha(s) for s in shots[:3])
    assert intake.captures() == 3  # each published once
    assert not list(partials.iterdir())


def test_a_kept_part_that_does_not_match_the_camera_is_downloaded_again_whole(
    tmp_path: Path, intake: Intake, camera: OscCamera, shots: list[bytes]
) -> None:
    (name,) = load(camera, shots, 1)
    camera.vanish_during_download(name, 50_000)
    first = source(tmp_path, intake, camera)
    first.scan()
    first.stop()
    (part,) = (tmp_path / "spool/theta/partial").iterdir()
    torn = bytearray(part.read_bytes())
    torn[-100:] = bytes(100)  # a torn write at a power cut: zeros where data should be
    part.write_bytes(bytes(torn))
    camera.come_back()
    again = source(tmp_path, intake, camera)
    try:
        assert again.scan() == 1
    finally:
        again.stop()
    assert camera.downloads(name) == [None, f"bytes={50_000 - OVERLAP}-", None]
    assert imported_shas(intake) == [sha(shots[0])]  # the camera's bytes, not the torn ones


def test_a_camera_that_ignores_range_sends_the_whole_file_again(
    tmp_path: Path, intake: Intake, shots: list[bytes]
) -> None:
    with OscCamera(insta360=True, ranges=False) as camera:
        (name,) = load(camera, shots, 1)
        camera.cut_next_download(name, 60_000)
        cam = source(tmp_path, intake, camera)
        try:
            assert cam.scan() == 1
        finally:
            cam.stop()
        assert camera.downloads(name) == [None, f"bytes={60_000 - OVERLAP}-"]  # answered 200
    assert imported_shas(intake) == [sha(shots[0])]


def test_a_size_the_camera_lists_wrongly_is_not_imported_until_it_is_right(
    tmp_path: Path, intake: Intake, camera: OscCamera, shots: list[bytes]
) -> None:
    names = load(camera, shots, 2)
    camera.files[0].listed_size = len(shots[0]) + 1000  # the card's index disagrees
    cam = source(tmp_path, intake, camera, delete_after_import=True, archived=intake.archived_sha)
    try:
        assert cam.scan() == 1  # the other photo is taken
        health = cam.health()
        assert health.online and health.errors == 1 and health.files_pending == 1
        assert f"{len(shots[0])} bytes arrived but the camera listed" in (health.last_error or "")
        assert cam.scan() == 0 and camera.names == [names[0]]  # kept on the camera
        camera.fix_size(names[0])
        assert cam.scan() == 1
    finally:
        cam.stop()
    assert sorted(imported_shas(intake)) == sorted(sha(s) for s in shots[:2])
    assert camera.names == []


def test_a_restart_in_the_middle_of_a_download_resumes_it(
    tmp_path: Path, intake: Intake, shots: list[bytes]
) -> None:
    """panodock is killed (SIGKILL) while a file is coming; the next start resumes it."""
    with OscCamera(insta360=True, chunk=8192, seconds_per_chunk=0.02) as camera:  # ~400 KB/s
        (name,) = load(camera, shots, 1)
        script = (
            "import sys; from pathlib import Path; from ingest.sources.osc import OscSource\n"
            "OscSource('theta', url=sys.argv[1], deliver=print, spool_root=Path(sys.argv[2]),"
            " site='s').scan()\n"
        )
        child = subprocess.Popen(
            [sys.executable, "-c", script, camera.url, str(tmp_path / "spool")],
            cwd=Path(__file__).parents[3],
        )
        try:
            wait_for(lambda: camera.bytes_sent >= 40_000, 30, "the download to be under way")
            child.send_signal(signal.SIGKILL)
        finally:
            child.wait(10)
        (part,) = (tmp_path / "spool/theta/partial").iterdir()
        kept = part.stat().st_size
        assert 0 < kept < len(shots[0])
        camera.seconds_per_chunk = 0.0
        cam = source(tmp_path, intake, camera)
        try:
            assert cam.scan() == 1
        finally:
            cam.stop()
        ranges = camera.downloads(name)
    assert ranges == [None, f"bytes={kept - min(kept, OVERLAP)}-"]
    assert imported_shas(intake) == [sha(shots[0])]


def test_after_a_restart_nothing_imported_is_downloaded_again(
    tmp_path: Path, intake: Intake, camera: OscCamera, shots: list[bytes]
) -> None:
    load(camera, shots, 3)
    cam = source(tmp_path, intake, camera)
    cam.scan()
    cam.stop()
    before = len(camera.requests)
    restarted = source(tmp_path, intake, camera)
    try:
        assert restarted.scan() == 0
    finally:
        restarted.stop()
    assert [m for m, _, _ in camera.requests[before:]] == ["GET", "POST", "POST", "POST"]
    assert not [p for m, p, _ in camera.requests[before:] if p.startswith("/files/")]
    assert intake.captures() == 3


def test_files_are_deleted_only_once_archived_and_verified(
    tmp_path: Path, intake: Intake, shots: list[bytes]
) -> None:
    at_delete: list[bool] = []

    def check(files: list[CameraFile]) -> None:  # called by the camera as it deletes
        at_delete.extend(intake.archived_sha(sha(f.data), len(f.data)) for f in files)

    checked: list[str] = []

    def archived(digest: str, size: int) -> bool:  # pretend the third one's archive is bad
        checked.append(digest)
        return digest != sha(shots[2]) and intake.archived_sha(digest, size)

    with OscCamera(insta360=True, max_entries=2, on_delete=check) as camera:
        names = load(camera, shots, 3)
        cam = source(tmp_path, intake, camera, delete_after_import=True, archived=archived)
        try:
            assert cam.scan() == 3
        finally:
            cam.stop()
    assert sorted(camera.deleted) == sorted(names[:2]) and cam.deleted == 2
    assert camera.names == [names[2]]
    assert at_delete == [True, True]  # each was in the archive when the camera deleted it
    assert sorted(checked) == sorted(sha(s) for s in shots[:3])


def test_a_photo_the_camera_is_still_stitching_waits(
    tmp_path: Path, intake: Intake, camera: OscCamera, shots: list[bytes]
) -> None:
    camera.add("100RICOH", "R0000001.JPG", shots[0], "2026:05:01 10:00:00+02:00",
               processed=False)  # fmt: skip
    cam = source(tmp_path, intake, camera)
    try:
        assert cam.scan() == 0 and cam.health().files_pending == 1
        camera.finish_processing("R0000001.JPG")
        assert cam.scan() == 1
    finally:
        cam.stop()


def test_the_camera_appearing_and_disappearing_is_seen_in_health(
    tmp_path: Path, intake: Intake, shots: list[bytes]
) -> None:
    camera = OscCamera(model="Insta360 X3", manufacturer="Arashi Vision", insta360=True)
    cam = source(tmp_path, intake, camera)  # the camera is not switched on yet
    try:
        cam.scan()
        health = cam.health()
        assert not health.online and "Wi-Fi" in health.detail and camera.url in health.detail
        camera.start()
        load(camera, shots, 1)
        assert cam.scan() == 1 and "Insta360 X3" in cam.health().detail
        camera.vanish()
        cam.scan()
        assert not cam.health().online
        camera.come_back()
        cam.scan()
        assert cam.health().online
    finally:
        cam.stop()
        camera.stop()


def test_an_osc_entry_is_checked_and_built_into_a_source(tmp_path: Path, intake: Intake) -> None:
    for bad, why in [
        ({"url": "192.168.1.1"}, "needs a url like http://192.168.1.1"),
        ({"url": "http://THETA:pw@192.168.1.1"}, "credentials in username/password"),
        ({"url": "http://192.168.1.1", "username": "THETAYR1"}, "needs username and password"),
    ]:
        with pytest.raises(ValidationError, match=why):
            SourceConfig.model_validate({"name": "t", "kind": "osc", **bad})
    config = SourceConfig(name="insta", kind="osc", url="http://192.168.42.1/",
                          delete_after_import=True, poll_seconds=2)  # fmt: skip
    (built,) = build_sources(
        [config], deliver=intake, spool_root=tmp_path / "spool", default_site="d",
        archived=intake.archived_sha,
    )  # fmt: skip
    assert isinstance(built, OscSource) and built.url == "http://192.168.42.1"
    assert built.site == "d" and built.health().online is False  # not scanned yet
    with pytest.raises(ConfigError, match="delete_after_import needs a way to check"):
        build_sources([config], deliver=intake, spool_root=tmp_path / "s2", default_site="d")


def test_digest_auth_and_the_password_stays_secret(
    tmp_path: Path, intake: Intake, shots: list[bytes], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "s3cret-Pa55word"
    with OscCamera(credentials=("THETAYR10100001", secret)) as camera:
        load(camera, shots, 1)
        wrong = source(tmp_path, intake, camera, username="THETAYR10100001",
                       password=SecretStr("not-the-password"))  # fmt: skip
        wrong.scan()
        assert not wrong.health().online and "username and password" in wrong.health().detail
        wrong.stop()
        right = source(tmp_path, intake, camera, username="THETAYR10100001",
                       password=SecretStr(secret))  # fmt: skip
        try:
            assert right.scan() == 1
            shown = str(right.health().as_dict())
        finally:
            right.stop()
        assert camera.auth_refused >= 2 and camera.overlaps == 0
    config = SourceConfig(
        name="thetax", kind="osc", url="http://10.0.0.7", username="THETAYR10100001",
        password=SecretStr(secret),
    )  # fmt: skip
    with pytest.raises(ValidationError) as invalid:  # a mistake in the entry names no secret
        SourceConfig.model_validate({**config.model_dump(), "password": secret, "url": "x"})
    shown_config = (str(config), repr(config), config.model_dump_json(), str(invalid.value))
    for text in (shown, caplog.text, str(wrong.health().as_dict()), *shown_config):
        assert secret not in text and "not-the-password" not in text


def _status(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return dict(json.loads(response.read()))
    except OSError:
        return None


def _camera_health(url: str) -> dict[str, Any] | None:
    status = _status(url)
    found = [w for w in (status or {}).get("watchers", []) if w["name"] == "source:theta"]
    return found[0] if found else None


@pytest.mark.e2e
def test_panodock_run_publishes_each_camera_photo_once_and_empties_the_camera(
    tmp_path: Path, shots: list[bytes]
) -> None:
    """The real service with an osc source on the simulated camera, deleting after import.

    The service's whole output is kept: the camera's password must not be in it.
    """
    data = tmp_path / "panodock-data"
    deleted_unarchived: list[str] = []

    def archived_now(files: list[CameraFile]) -> None:  # the camera asks, as it deletes
        for f in files:
            copies = (data / "store" / "raw" / sha(f.data)).glob("*")
            if not any(p.read_bytes() == f.data for p in copies):
                deleted_unarchived.append(f.name)

    port = free_port()
    status_url = f"http://127.0.0.1:{port}/api/status"
    secret = "Client-Mode-Pa55"  # a Theta X in client mode: digest auth, and the XSRF rule
    camera = OscCamera(
        require_xsrf=True, credentials=("THETAYR10100001", secret), max_entries=2,
        on_delete=archived_now,
    )  # fmt: skip
    output = tmp_path / "service.log"
    with camera, output.open("w") as log:
        names = load(camera, shots, 3)
        entry = {"name": "theta", "kind": "osc", "url": camera.url, "poll_seconds": 0.5,
                 "delete_after_import": True, "site": "north",
                 "username": "THETAYR10100001", "password": secret}  # fmt: skip
        env = {
            **os.environ,
            "PANODOCK_DATA_DIR": str(data),
            "PANODOCK_WORKERS": "2",
            "PANODOCK_SERVE_PORT": str(port),
            "PANODOCK_SOURCES": json.dumps([entry]),
        }
        env.pop("PANODOCK_REDIS_URL", None)
        service = subprocess.Popen(
            [sys.executable, "-m", "workers.cli.main", "run"], env=env,
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            pointers = data / "store" / "scenes" / "north"
            wait_for(lambda: len(list(pointers.glob("*/current.json"))) == 3, 90, "3 scenes")
            wait_for(lambda: camera.names == [], 30, "the camera to be emptied")
            wait_for(lambda: (_camera_health(status_url) or {}).get("files_imported") == 3, 30,
                     "the camera's health on the status page")  # fmt: skip
            health = _camera_health(status_url)
            assert health is not None and health["online"] and "RICOH THETA X" in health["detail"]
            camera.vanish()  # the technician walks out of Wi-Fi range
            wait_for(lambda: (_camera_health(status_url) or {}).get("online") is False, 30,
                     "the status page to show the camera gone")  # fmt: skip
            camera.come_back()
            wait_for(lambda: (_camera_health(status_url) or {}).get("online") is True, 30,
                     "the status page to show the camera back")  # fmt: skip
            status = _status(status_url)
            assert status is not None
        finally:
            service.send_signal(signal.SIGINT)
            code = service.wait(60)
    assert code == 0
    assert sorted(camera.deleted) == sorted(names) and deleted_unarchived == []
    assert camera.overlaps == 0 and camera.xsrf_refused == 0 and camera.refused_bodies == 0
    assert status["captures"]["published"] == 3 and sum(status["captures"].values()) == 3
    for scene in pointers.iterdir():  # once each: one version per scene, each photo once
        assert len([v for v in scene.iterdir() if v.is_dir()]) == 1, scene
    assert camera.auth_refused >= 1  # it did ask for the password
    logged = output.read_text()
    assert "source theta: RICOH THETA X" in logged  # the log is there and names the camera
    assert secret not in logged and secret not in json.dumps(status)
    raws = {p.parent.name for p in (data / "store" / "raw").glob("*/*")}
    assert raws == {sha(s) for s in shots[:3]}
    assert all(len(camera.downloads(n)) == 1 for n in names)  # each downloaded once
