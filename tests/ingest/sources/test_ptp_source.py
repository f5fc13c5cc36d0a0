"""The PTP path, with libgphoto2's Directory Browse driver serving a folder as a camera."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from config.errors import ConfigError
from ingest.sources.ptp import PtpSource
from tests.support.sources import Intake, sha


def camera_folder(root: Path) -> dict[str, bytes]:
    shots = {}
    for n, aspect in ((1, (200, 100)), (2, (200, 100))):
        img = np.random.default_rng(n).integers(0, 255, (aspect[1], aspect[0], 3), np.uint8)
        ok, buf = cv2.imencode(".jpg", img)
        assert ok
        path = root / "DCIM" / "100RICOH" / f"R001000{n}.JPG"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buf.tobytes())
        os.utime(path, (1_700_000_000 + n, 1_700_000_000 + n))
        shots[path.name] = buf.tobytes()
    return shots


def ptp(tmp_path: Path, intake: Intake, camera: Path, **kw: object) -> PtpSource:
    return PtpSource(
        "theta",
        port=f"disk:{camera}",
        model="Directory Browse",
        deliver=intake,
        spool_root=tmp_path / "spool",
        site="s",
        **kw,  # type: ignore[arg-type]
    )


def test_files_are_listed_downloaded_verified_and_kept_on_the_camera(
    tmp_path: Path, intake: Intake
) -> None:
    camera = tmp_path / "camera"
    shots = camera_folder(camera)
    source = ptp(tmp_path, intake, camera)
    try:
        assert source.scan() == 2  # two equirects (2:1) a second apart: one capture each
        assert source.scan() == 0
    finally:
        source.stop()
    assert {c.files[0].sha256 for c in map(intake.harness.app.ledger.get, intake.queued)} == {
        sha(d) for d in shots.values()
    }
    assert all("equirect" in (c.note or "") for c in intake.candidates)
    assert sorted(p.name for p in (camera / "DCIM/100RICOH").iterdir()) == sorted(shots)
    assert source.health().online and "Directory Browse" in source.health().detail


def test_files_are_deleted_only_once_archived_and_verified(tmp_path: Path, intake: Intake) -> None:
    camera = tmp_path / "camera"
    shots = camera_folder(camera)
    verified_names = {"R0010001.JPG"}

    def archived(digest: str, size: int) -> bool:  # pretend the second one's archive is bad
        good = {sha(shots[n]) for n in verified_names}
        return digest in good and intake.archived_sha(digest, size)

    source = ptp(tmp_path, intake, camera, delete_after_import=True, archived=archived)
    try:
        assert source.scan() == 2
    finally:
        source.stop()
    assert [p.name for p in (camera / "DCIM/100RICOH").iterdir()] == ["R0010002.JPG"]
    assert source.deleted == 1


def test_a_missing_camera_is_offline_and_deletion_needs_an_archive_check(
    tmp_path: Path, intake: Intake
) -> None:
    source = ptp(tmp_path, intake, tmp_path / "unplugged")
    assert source.scan() == 0
    assert not source.health().online and "unplugged" in source.health().detail
    with pytest.raises(ConfigError, match="archive"):
        ptp(tmp_path, intake, tmp_path, delete_after_import=True)
