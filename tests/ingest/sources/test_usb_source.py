from __future__ import annotations

import os
from pathlib import Path

from ingest.sources.spool import RemoteFile
from ingest.sources.usb import Mount, UsbSource, parse_mountinfo
from tests.support.sources import Intake, mount_tmpfs, sha, umount

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 8:17 / /media/tech/THETA\\040V rw,nosuid shared:30 - vfat /dev/sdb1 rw,uid=1000
41 22 0:50 / /mnt/nas rw - cifs //nas/captures rw
garbage line
"""


def test_mountinfo_is_parsed_with_escapes() -> None:
    assert parse_mountinfo(MOUNTINFO) == [
        Mount(Path("/"), "ext4", "/dev/sda1"),
        Mount(Path("/media/tech/THETA V"), "vfat", "/dev/sdb1"),
        Mount(Path("/mnt/nas"), "cifs", "//nas/captures"),
    ]


def card(point: Path, shots: dict[str, bytes]) -> None:
    for i, (name, data) in enumerate(sorted(shots.items())):
        path = point / "DCIM" / "100TEST" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (1_700_000_000 + i, 1_700_000_000 + i))


SHOTS = {f"IMG_{n:04d}.JPG": os.urandom(50_000 + n) for n in range(1, 5)}


def usb(tmp_path: Path, intake: Intake) -> UsbSource:
    return UsbSource(
        "usb", mount_prefix=tmp_path, deliver=intake, spool_root=tmp_path / "spool", site="s"
    )


def test_a_card_with_dcim_is_imported_when_mounted_and_offline_when_pulled(
    tmp_path: Path, intake: Intake
) -> None:
    source = usb(tmp_path, intake)
    point = tmp_path / "CAM"
    assert source.scan() == 0 and not source.health().online
    assert "no camera connected" in source.health().detail
    mount_tmpfs(point)
    try:
        assert source.scan() == 0  # a volume without DCIM/ is not a camera
        card(point, SHOTS)
        assert source.scan() == 1  # four shots a second apart: one multi-shot capture
        health = source.health()
        assert health.online and str(point) in health.detail and health.files_imported == 4
        (candidate,) = intake.candidates
        assert candidate.origin == "usb usb:CAM/DCIM/100TEST/IMG_0001.JPG and 3 more"
        assert "camera sequence and time gap" in (candidate.note or "")
        assert source.scan() == 0  # journaled: not copied again
        assert set(SHOTS.values()) == {p.read_bytes() for p in (point / "DCIM/100TEST").iterdir()}
    finally:
        umount(point)
    assert source.scan() == 0 and not source.health().online


class PulledMidCopy(UsbSource):
    """The technician pulls the cable after the first file was copied."""

    point: Path

    def _copy(self, remote: RemoteFile, dest: Path) -> str:
        result = super()._copy(remote, dest)
        if self.point.is_mount():
            umount(self.point, lazy=True)  # the open files stay readable, new opens fail
        return result


def test_a_camera_pulled_mid_copy_is_imported_whole_when_it_comes_back(
    tmp_path: Path, intake: Intake
) -> None:
    point = tmp_path / "CAM"
    source = PulledMidCopy(
        "usb", mount_prefix=tmp_path, deliver=intake, spool_root=tmp_path / "spool", site="s"
    )
    source.point = point
    mount_tmpfs(point)
    card(point, SHOTS)
    try:
        assert source.scan() == 0
        assert intake.candidates == [] and intake.captures() == 0
        health = source.health()
        assert not health.online and health.errors == 1
        assert "copied again" in (health.last_error or "")
        mount_tmpfs(point)  # plugged in again
        card(point, SHOTS)
        source.point = tmp_path / "never"  # no second pull
        assert source.scan() == 1
        capture = intake.harness.app.ledger.get(intake.queued[0])
        assert sorted(f.sha256 for f in capture.files) == sorted(sha(d) for d in SHOTS.values())
        assert all(intake.archived_sha(f.sha256, f.size) for f in capture.files)
    finally:
        while point.is_mount():
            umount(point, lazy=True)
