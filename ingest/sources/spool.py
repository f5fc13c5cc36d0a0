"""panodock's spool: where polled sources copy files with proof before handing them on.

Layout, one folder per source (``<data_dir>/spool/<source name>/``)::

    imported.jsonl        the journal: one line per file delivered (its source signature)
    staging/<path>        copies made by the current scan, each verified
    ready/<token>/        one capture, assembled from staging, waiting for delivery
        .import.json      its origins, grouping note and journal lines

A copy is written to ``<path>.part``, flushed to disk, read back and hashed; it is kept only
if that sha256 equals the sha256 of the bytes read from the source and its size equals the
size the source listed. A group is renamed into ``ready/`` in one step, delivered, then
journaled and removed. A crash leaves either staging files (cleared and copied again) or a
ready group (delivered at the next scan; the ledger makes a second delivery harmless), so an
interrupted import is always redone and a file is never journaled without being delivered.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Final

from config.errors import QuarantineError
from ingest.candidates import Candidate
from ingest.files import hash_file
from ingest.image import probe_image_file
from ingest.sources.grouping import Group, GroupFile

if TYPE_CHECKING:
    from ingest.sources.base import Deliver

log = logging.getLogger(__name__)

_JOURNAL: Final = "imported.jsonl"
_META: Final = ".import.json"
_CHUNK: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """A file as a source lists it."""

    path: str  # relative POSIX path on the source, e.g. "DCIM/100RICOH/R0010001.JPG"
    size: int  # bytes, as listed
    mtime_ns: int  # as listed (a camera may only know whole seconds)

    @property
    def signature(self) -> str:
        """Path, size and mtime: the journal's key for "this file was imported"."""
        return f"{self.path}|{self.size}|{self.mtime_ns}"


@dataclass(frozen=True, slots=True)
class SpooledFile:
    """A verified copy in the spool."""

    remote: RemoteFile
    path: Path
    sha256: str
    aspect: float | None  # width / height from the image header; None if not an image

    @property
    def group_file(self) -> GroupFile:
        return GroupFile(
            path=self.remote.path, taken_at=self.remote.mtime_ns / 1e9, aspect=self.aspect
        )


def copy_file(source: Path, dest: Path) -> str:
    """Copy ``source`` to ``dest`` in chunks; return the sha256 of the bytes read.

    Raises OSError when the source cannot be read to its end (device pulled, share gone).
    """
    digest = hashlib.sha256()
    with source.open("rb") as src, dest.open("wb") as out:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


class Spool:
    """One source's spool folder (module docstring)."""

    def __init__(self, root: Path, *, deliver: Deliver, site: str) -> None:
        self.root = root
        self._deliver = deliver
        self._site = site
        self._staging = root / "staging"
        self._ready = root / "ready"
        for folder in (self._staging, self._ready):
            folder.mkdir(parents=True, exist_ok=True)
        self._journal_path = root / _JOURNAL
        self._imported: set[str] = set()
        if self._journal_path.exists():
            for line in self._journal_path.read_text().splitlines():
                if line.strip():
                    self._imported.add(json.loads(line)["file"])

    def is_imported(self, remote: RemoteFile) -> bool:
        """Whether this file (same path, size and mtime) was delivered before."""
        return remote.signature in self._imported

    def clear_staging(self) -> None:
        """Drop what an earlier scan copied but did not deliver; it is copied again."""
        shutil.rmtree(self._staging, ignore_errors=True)
        self._staging.mkdir(parents=True, exist_ok=True)

    def fetch(self, remote: RemoteFile, copy: Callable[[RemoteFile, Path], str]) -> SpooledFile:
        """Copy ``remote`` into staging with ``copy`` and verify it (module docstring).

        Raises
        ------
        OSError
            The copy was interrupted; nothing is left in staging.
        ValueError
            The copy does not match what was read or listed; nothing is left in staging.
        """
        dest = self._staging.joinpath(*_safe_parts(remote.path))
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        try:
            read_sha = copy(remote, part)
            with part.open("rb+") as out:
                os.fsync(out.fileno())
            written_sha, written_size = hash_file(part)  # in chunks: never the whole file
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        problem = None
        if written_size != remote.size:
            problem = f"{written_size} bytes were copied but the source listed {remote.size}"
        elif written_sha != read_sha:
            problem = f"the copy's sha256 {written_sha[:12]} differs from the read {read_sha[:12]}"
        if problem is not None:
            part.unlink(missing_ok=True)
            raise ValueError(f"{remote.path}: {problem}; it is copied again at the next scan")
        os.replace(part, dest)
        return SpooledFile(remote, dest, written_sha, _aspect(dest, remote.path))

    def deliver(self, group: Group, files: Sequence[SpooledFile], *, origins: list[str]) -> None:
        """Assemble ``files`` as one capture in ``ready/``, deliver it, journal it."""
        token = files[0].sha256[:16]
        target = self._ready / token
        if target.exists():  # an undelivered earlier copy of the same content
            shutil.rmtree(target)
        building = self._ready / f".{token}.building"
        shutil.rmtree(building, ignore_errors=True)
        base = building / group.name if group.is_folder else building
        for spooled, name in zip(files, group.names, strict=True):
            dest = base.joinpath(*_safe_parts(name))
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(spooled.path, dest)
        origin = origins[0] if len(origins) == 1 else f"{origins[0]} and {len(origins) - 1} more"
        meta = {
            "root": group.name if group.is_folder else group.names[0],
            "is_folder": group.is_folder,
            "origin": origin,
            "note": group.rule,
            "journal": [{"file": f.remote.signature, "sha256": f.sha256} for f in files],
        }
        (building / _META).write_text(json.dumps(meta))
        os.replace(building, target)
        self._deliver_ready(target)

    def redeliver(self) -> int:
        """Deliver groups left in ``ready/`` by an earlier failure or crash; return how many."""
        count = 0
        for entry in sorted(self._ready.iterdir()):
            if entry.name.startswith("."):
                shutil.rmtree(entry, ignore_errors=True)  # a group half assembled at a crash
                continue
            try:
                self._deliver_ready(entry)
            except Exception:
                log.exception("spool %s: delivering %s failed again", self.root, entry.name)
                continue
            count += 1
        return count

    def _deliver_ready(self, folder: Path) -> None:
        meta = json.loads((folder / _META).read_text())
        root = folder / meta["root"]
        if meta["is_folder"]:
            files = tuple(sorted(p for p in root.rglob("*") if p.is_file()))
        else:
            files = (root,)
        candidate = Candidate(
            root=root,
            files=files,
            is_folder=meta["is_folder"],
            site=self._site,
            origin=meta["origin"],
            note=meta["note"],
        )
        self._deliver(candidate)
        lines = meta["journal"]
        with self._journal_path.open("a") as journal:
            journal.writelines(json.dumps(line) + "\n" for line in lines)
            journal.flush()
            os.fsync(journal.fileno())
        self._imported.update(line["file"] for line in lines)
        shutil.rmtree(folder)


def _safe_parts(path: str) -> tuple[str, ...]:
    """The parts of a relative path from a source, refusing anything that climbs out."""
    parts = tuple(p for p in PurePosixPath(path).parts if p not in ("", "/", "."))
    if not parts or ".." in parts:
        raise ValueError(f"refusing the path {path!r} offered by a source")
    return parts


def _aspect(path: Path, name: str) -> float | None:
    try:
        info = probe_image_file(path, name=name)
    except QuarantineError:
        return None
    return info.width / info.height if info.height else None
