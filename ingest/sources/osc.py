"""Wi-Fi cameras speaking the Open Spherical Camera (OSC) API: Ricoh Theta, Insta360.

A technician's laptop on the camera's own Wi-Fi (Theta ``http://192.168.1.1``, Insta360
``http://192.168.42.1``), or a Theta X on the school's network in client mode (digest
auth), pulls every shot as it is taken, with no cable and no card. Each scan
(:class:`~ingest.sources.base.PolledSource`):

1. notices the camera: ``GET /osc/info`` once per appearance (model, firmware, API level;
   ``camera.listFiles`` needs level 2); a camera that does not answer is *offline*, and
   nothing is concluded about its files;
2. asks ``POST /osc/state`` for the ``fingerprint``, which changes when storage changes;
   the file list is read again (``camera.listFiles``, paged, :mod:`.osc_client`) only then;
3. downloads each new photo into the spool with a plain ``GET`` of its ``fileUrl`` (its
   path, on the configured address: :func:`_on_camera`). A download cut by a Wi-Fi drop
   keeps what arrived in ``<spool>/partial/`` and goes on from there with ``Range`` (at
   once if the camera still answers, else at the next scan, after a restart too), first
   checking that the camera's bytes just before the cut equal what was kept. The size
   received must equal the size listed, and the spool checks that its copy has the sha256
   of the bytes received, as for every source. A whole download stays in ``partial/``
   until its capture is delivered, so a scan cut short by the next file is not fetched
   again;
4. deletes a file from the camera (``camera.delete``) only when ``delete_after_import`` is
   set, after its capture was delivered and ``archived(sha256, size)`` read the original
   back from the archive with exactly that content.

Only photos are listed (``fileType: "image"``): 360° videos are gigabytes over Wi-Fi and
panodock makes no scenes of them, so they stay on the camera. Files the camera is still
stitching (``isProcessed: false``) wait. A file imported before (its path, size and time in
the spool's journal) is never downloaded again, after a restart too. Requests never
overlap and always carry ``X-XSRF-Protected: 1`` (:mod:`.osc_client`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Final
from urllib.parse import urlsplit

from pydantic import SecretStr

from config.errors import ConfigError
from ingest.files import hash_file
from ingest.sources.base import PolledSource, SourceOffline
from ingest.sources.grouping import Group
from ingest.sources.osc_client import OscClient, OscError, OscFile
from ingest.sources.ptp import Archived
from ingest.sources.spool import RemoteFile, SpooledFile

log = logging.getLogger(__name__)

#: Resumes of one download within a scan while the camera still answers.
RESUMES: Final = 3
#: Bytes a resume asks for again, before the end of what arrived, to check they match.
OVERLAP: Final = 4096


class OscSource(PolledSource):
    """Import from a camera over Wi-Fi with the OSC API (module docstring).

    Parameters
    ----------
    url:
        The camera's address, e.g. ``http://192.168.1.1``.
    username, password:
        Digest-auth credentials (a Theta in client mode); None on the camera's own Wi-Fi.
    delete_after_import:
        Delete each file from the camera once archived and verified.
    archived:
        ``archived(sha256, size)``: True when the archive holds that exact original.
        Required when ``delete_after_import`` is on.
    client:
        An :class:`OscClient` to use instead of one built from the above (tests).
    kwargs:
        As :class:`PolledSource`.
    """

    kind: ClassVar[str] = "osc"

    def __init__(
        self,
        name: str,
        *,
        url: str,
        username: str | None = None,
        password: SecretStr | None = None,
        delete_after_import: bool = False,
        archived: Archived | None = None,
        client: OscClient | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        if delete_after_import and archived is None:
            raise ConfigError(
                f"camera source {name}: delete_after_import needs a way to check the archive"
            )
        self.url = url.rstrip("/")
        self._username = username
        self._password = password
        self._client = client
        self._delete = delete_after_import
        self._archived = archived
        self._partials = self._spool.root / "partial"
        self._partials.mkdir(parents=True, exist_ok=True)
        self._described: str | None = None  # set once /osc/info answered
        self._fingerprint: str | None = None
        self._listing: list[RemoteFile] = []
        self._entries: dict[str, OscFile] = {}  # source path -> listed entry
        self.deleted = 0

    # -- the camera ---------------------------------------------------------------------

    def _camera(self) -> OscClient:
        if self._client is None:
            self._client = OscClient(self.url, username=self._username, password=self._password)
        return self._client

    def _close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _list(self) -> Sequence[RemoteFile]:
        try:
            return self._read_listing()
        except (SourceOffline, OscError) as exc:
            self._described, self._fingerprint = None, None  # re-read /osc/info when back
            if isinstance(exc, SourceOffline):
                raise
            raise SourceOffline(f"the camera at {self.url} did not list its files ({exc})") from exc

    def _read_listing(self) -> list[RemoteFile]:
        camera = self._camera()
        if self._described is None:
            info = camera.info()
            model = _model(info)
            if 2 not in (info.get("apiLevel") or [1]):
                raise SourceOffline(
                    f"{model} at {self.url} speaks only OSC API level 1; update its firmware "
                    "(panodock lists files with camera.listFiles, API level 2)"
                )
            self._described = f"{model} (firmware {info.get('firmwareVersion', '?')}) at {self.url}"
            log.info("source %s: %s answers", self.name, self._described)
        fingerprint = camera.fingerprint()
        if fingerprint and fingerprint == self._fingerprint:
            return self._listing  # storage unchanged since the last listing
        entries = camera.list_files(file_type="image")
        self._entries = {_path(e.url): e for e in entries}
        self._listing = sorted(
            (RemoteFile(path, e.size, _taken_ns(e.taken)) for path, e in self._entries.items()),
            key=lambda f: f.path,
        )
        self._fingerprint = fingerprint
        self._forget_partials()
        return self._listing

    def _online_detail(self) -> str:
        return f"{self._described or self.url}: {len(self._listing)} photos on the camera"

    def _complete(self, files: Sequence[RemoteFile]) -> list[RemoteFile]:
        return [f for f in files if self._entries[f.path].processed]  # stitched by the camera

    # -- downloads with resume ----------------------------------------------------------

    def _partial(self, remote: RemoteFile) -> Path:
        key = hashlib.sha256(remote.signature.encode()).hexdigest()[:24]
        return self._partials / f"{key}.part"

    def _forget_partials(self) -> None:
        """Drop partial downloads of files the camera no longer lists, or imported already."""
        wanted = {self._partial(f).name for f in self._listing if not self._spool.is_imported(f)}
        for leftover in self._partials.iterdir():
            if leftover.name not in wanted:
                leftover.unlink(missing_ok=True)

    def _copy(self, remote: RemoteFile, dest: Path) -> str:
        """Download ``remote`` (resuming what arrived before) and link it to ``dest``.

        Returns the sha256 of the bytes as received: those of this download, after those an
        earlier one left in ``partial/``. The complete download stays in ``partial/`` until
        its capture is delivered, so a scan cut short later (the camera gone during the next
        file) does not fetch it again over the Wi-Fi.
        """
        partial = self._partial(remote)
        digest = ""
        for attempt in range(RESUMES):
            have = _size(partial)
            if have == remote.size:  # downloaded whole by an earlier scan
                digest, _ = hash_file(partial)
                break
            try:
                digest = self._fetch(remote, partial)
                break
            except SourceOffline:
                if _size(partial) <= have or attempt == RESUMES - 1:
                    raise
                log.info(
                    "source %s: %s was cut at %d of %d bytes; resuming",
                    self.name, remote.path, _size(partial), remote.size,
                )  # fmt: skip
        got = _size(partial)
        if got != remote.size:
            if got > remote.size:
                partial.unlink(missing_ok=True)
            raise OSError(
                f"{remote.path}: {got} bytes arrived but the camera listed {remote.size}; "
                "it is downloaded again at the next scan"
            )
        dest.unlink(missing_ok=True)
        os.link(partial, dest)  # same spool folder, same disk
        return digest

    def _fetch(self, remote: RemoteFile, partial: Path) -> str:
        """Append the missing bytes of ``remote`` to ``partial``; return the sha256 of all.

        A resume asks for :data:`OVERLAP` bytes before the end of what arrived and checks
        they equal the tail of ``partial``: a part that does not continue into the camera's
        file (a torn write at a crash, a file replaced under the same name) is dropped and
        the file downloaded whole, in the same call.
        """
        url = _on_camera(self.url, self._entries[remote.path].url)
        have = _size(partial)
        if have > remote.size:  # not the file listed: start over
            partial.unlink(missing_ok=True)
            have = 0
        overlap = min(have, OVERLAP)
        start = have - overlap
        with self._camera().download(url, offset=start) as response:
            status = response.status_code
            if status == 416 or (status == 206 and not _starts_at(response, start)):
                partial.unlink(missing_ok=True)  # the camera disagrees: fetch it whole next
                raise OSError(f"{remote.path}: the camera refused to resume at byte {start}")
            if status not in (200, 206):
                raise OSError(f"{remote.path}: the camera answered {status} to its download")
            resumed = status == 206 and start > 0
            chunks: Iterator[bytes] | None = response.iter_bytes()
            if resumed:
                assert chunks is not None
                received = _take(chunks, overlap)
                if received[:overlap] != _tail(partial, overlap):
                    log.warning(
                        "source %s: the part of %s downloaded before does not match the "
                        "camera's file; downloading it again whole", self.name, remote.path,
                    )  # fmt: skip
                    partial.unlink(missing_ok=True)
                    chunks = None
                else:
                    chunks = _chain(received[overlap:], chunks)
            if chunks is not None:
                digest = _prefix_digest(partial, have) if resumed else hashlib.sha256()
                with partial.open("r+b" if resumed else "wb") as out:
                    out.seek(have if resumed else 0)
                    out.truncate()
                    for chunk in chunks:  # as it arrives: a cut keeps what came
                        digest.update(chunk)
                        out.write(chunk)
                        out.flush()  # what arrived survives a crash of this process
                    os.fsync(out.fileno())
                return digest.hexdigest()
        return self._fetch(remote, partial)  # the part was dropped: the whole file, once

    # -- deleting from the camera -------------------------------------------------------

    def _imported_group(self, group: Group, files: Sequence[SpooledFile]) -> None:
        for spooled in files:  # delivered and journaled: the download is no longer needed
            self._partial(spooled.remote).unlink(missing_ok=True)
        if not self._delete or self._archived is None:
            return
        urls = []
        for spooled in files:
            remote = spooled.remote
            if self._archived(spooled.sha256, remote.size):
                urls.append(self._entries[remote.path].url)
            else:
                log.warning(
                    "camera source %s: %s is not verified in the archive; kept on the camera",
                    self.name, remote.path,
                )  # fmt: skip
        if not urls:
            return
        try:
            failed = self._camera().delete(urls)
        except (OscError, SourceOffline) as exc:
            self._record_error(f"camera source {self.name}: cannot delete {len(urls)} files: {exc}")
            return
        self.deleted += len(urls) - len(failed)
        if failed:
            self._record_error(f"camera source {self.name}: the camera kept {', '.join(failed)}")


def _model(info: dict[str, Any]) -> str:
    """Maker and model from ``/osc/info``, once ("RICOH THETA X", not "RICOH RICOH THETA X")."""
    maker, model = str(info.get("manufacturer", "")), str(info.get("model", "camera"))
    return model if model.lower().startswith(maker.lower()) else f"{maker} {model}".strip()


def _on_camera(base: str, file_url: str) -> str:
    """``file_url`` fetched from the configured camera address ``base``.

    A camera names its files by the address it knows itself by, which may not be the one
    panodock reaches it at (a port forward); and panodock must not send a request, its
    credentials in particular, to whatever host a listing names. So only the path (and
    query) of a ``fileUrl`` is kept; ``camera.delete`` still gets the ``fileUrl`` as listed.
    """
    parts = urlsplit(file_url)
    return base + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _path(url: str) -> str:
    """The source path of a fileUrl: its URL path (``files/100RICOH/R0010001.JPG``)."""
    return urlsplit(url).path.lstrip("/") or url


def _taken_ns(taken: str) -> int:
    """``dateTimeZone`` ("2026:05:01 10:00:00+02:00") as Unix nanoseconds; 0 if unreadable."""
    text = taken.strip()
    for layout in ("%Y:%m:%d %H:%M:%S%z", "%Y:%m:%d %H:%M:%S"):
        try:
            return int(datetime.strptime(text, layout).timestamp() * 1e9)
        except ValueError:
            continue
    return 0


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _prefix_digest(path: Path, length: int) -> Any:
    """A sha256 fed with the first ``length`` bytes of ``path``, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        left = length
        while left > 0 and (chunk := handle.read(min(left, 1 << 20))):
            digest.update(chunk)
            left -= len(chunk)
    return digest


def _tail(path: Path, length: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(-length, os.SEEK_END)
        return handle.read(length)


def _take(chunks: Iterator[bytes], length: int) -> bytes:
    """At least ``length`` bytes from ``chunks`` (fewer only if they end first)."""
    got = bytearray()
    for chunk in chunks:
        got += chunk
        if len(got) >= length:
            break
    return bytes(got)


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _starts_at(response: Any, offset: int) -> bool:
    """Whether a 206's ``Content-Range`` starts at ``offset``."""
    spec = str(response.headers.get("Content-Range", ""))
    first = spec.removeprefix("bytes ").split("-")[0]
    return first.isdigit() and int(first) == offset
