"""PTP/MTP cameras through libgphoto2 (the PyPI ``gphoto2`` wheel bundles it).

Many 360° cameras (Ricoh Theta, Insta360) do not mount as a disk: they speak PTP. Each scan
opens the camera if needed (an unplugged or busy camera makes the source offline), lists
every file with its size and time, downloads the ones the journal has not seen, and
verifies each: the size received must equal the size listed, and the copy read back from
the spool must have the sha256 of the bytes received.

Deleting from the camera is off by default. When ``delete_after_import`` is on, a file is
deleted only after its capture was delivered and ``archived(sha256, size)`` confirms the
original is in the archive with exactly that content; otherwise it stays on the camera.

Without hardware, libgphoto2's "Directory Browse" driver on port ``disk:<folder>`` serves a
folder as a camera (it lists known camera extensions only: jpg, dng, mp4, ...).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import gphoto2 as gp

from config.errors import ConfigError
from ingest.sources.base import PolledSource, SourceOffline
from ingest.sources.grouping import Group
from ingest.sources.spool import RemoteFile, SpooledFile

log = logging.getLogger(__name__)

Archived = Callable[[str, int], bool]


class PtpSource(PolledSource):
    """Import from a camera through libgphoto2 (module docstring).

    Parameters
    ----------
    port:
        libgphoto2 port, e.g. ``usb:001,004`` or ``disk:/srv/fake-camera``; None takes the
        first camera libgphoto2 detects.
    model:
        Camera model as libgphoto2 names it (``"Directory Browse"`` for a folder); None lets
        libgphoto2 detect it.
    delete_after_import:
        Delete each file from the camera once archived and verified.
    archived:
        ``archived(sha256, size)``: True when the archive holds that exact original.
        Required when ``delete_after_import`` is on.
    kwargs:
        As :class:`PolledSource`.
    """

    kind: ClassVar[str] = "ptp"

    def __init__(
        self,
        name: str,
        *,
        port: str | None = None,
        model: str | None = None,
        delete_after_import: bool = False,
        archived: Archived | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        if delete_after_import and archived is None:
            raise ConfigError(
                f"camera source {name}: delete_after_import needs a way to check the archive"
            )
        self.port = port
        self.model = model
        self._delete = delete_after_import
        self._archived = archived
        self._camera: gp.Camera | None = None
        self._described = "no camera"
        self.deleted = 0

    def _open(self) -> gp.Camera:
        if self._camera is not None:
            return self._camera
        if self.port is not None and self.port.startswith("disk:"):
            folder = Path(self.port.removeprefix("disk:"))
            if not folder.is_dir():
                raise SourceOffline(f"camera folder {folder} is not there")
        camera = gp.Camera()
        try:
            if self.model is not None:
                abilities = gp.CameraAbilitiesList()
                abilities.load()
                camera.set_abilities(abilities[abilities.lookup_model(self.model)])
            if self.port is not None:
                ports = gp.PortInfoList()
                ports.load()
                camera.set_port_info(ports[ports.lookup_path(self.port)])
            camera.init()
        except gp.GPhoto2Error as exc:
            raise SourceOffline(
                f"no camera on {self.port or 'USB'} ({exc}); is it plugged in, switched on, "
                f"and not opened by another program (a desktop photo importer)?"
            ) from exc
        self._camera = camera
        self._described = f"camera {self.model or 'detected by libgphoto2'} on {self.port or 'USB'}"
        return camera

    def _close(self) -> None:
        if self._camera is not None:
            try:
                self._camera.exit()
            except gp.GPhoto2Error:
                pass  # unplugged: nothing left to close
            self._camera = None

    def _list(self) -> Sequence[RemoteFile]:
        camera = self._open()
        try:
            return sorted(_walk(camera, "/"), key=lambda f: f.path)
        except gp.GPhoto2Error as exc:
            self._close()
            raise SourceOffline(f"{self._described} stopped answering ({exc})") from exc

    def _online_detail(self) -> str:
        return self._described

    def _copy(self, remote: RemoteFile, dest: Path) -> str:
        camera = self._open()
        folder, name = _split(remote.path)
        try:
            camera_file = camera.file_get(folder, name, gp.GP_FILE_TYPE_NORMAL)
            data = bytes(memoryview(camera_file.get_data_and_size()))
        except gp.GPhoto2Error as exc:
            self._close()
            raise SourceOffline(
                f"{self._described}: download of {remote.path} failed ({exc})"
            ) from exc
        dest.write_bytes(data)
        return hashlib.sha256(data).hexdigest()

    def _imported_group(self, group: Group, files: Sequence[SpooledFile]) -> None:
        if not self._delete or self._archived is None:
            return
        for spooled in files:
            remote = spooled.remote
            if not self._archived(spooled.sha256, remote.size):
                log.warning(
                    "camera source %s: %s is not verified in the archive; kept on the camera",
                    self.name,
                    remote.path,
                )
                continue
            folder, name = _split(remote.path)
            try:
                self._open().file_delete(folder, name)
            except (gp.GPhoto2Error, SourceOffline) as exc:
                self._record_error(f"camera source {self.name}: cannot delete {remote.path}: {exc}")
                continue
            self.deleted += 1


def _split(path: str) -> tuple[str, str]:
    p = PurePosixPath("/") / path
    return str(p.parent), p.name


def _walk(camera: gp.Camera, folder: str) -> list[RemoteFile]:
    found: list[RemoteFile] = []
    names = camera.folder_list_files(folder)
    for i in range(names.count()):
        name = names.get_name(i)
        info = camera.file_get_info(folder, name)
        path = str(PurePosixPath(folder) / name).lstrip("/")
        found.append(RemoteFile(path, int(info.file.size), int(info.file.mtime) * 1_000_000_000))
    subfolders = camera.folder_list_folders(folder)
    for i in range(subfolders.count()):
        found.extend(_walk(camera, str(PurePosixPath(folder) / subfolders.get_name(i))))
    return found
