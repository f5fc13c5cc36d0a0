"""A local directory laid out exactly as the bucket: ``<root>/<key>``.

Writes go to a temporary file in the target folder and are renamed into place, so a reader
never sees half an object. Conditional writes hold an ``fcntl`` lock per key, which makes
them safe between processes on one machine (the embedded service); the S3 backend is for
several hosts. ``inject_faults`` makes the next N operations fail with a transient
:class:`StoreError`, for tests of the retry path (a real disk cannot be made to do that).

It has no access policy: a site's ``visibility`` does not open it to anyone. Nothing in it
is ever served without credentials (``panodock serve`` checks a key, a token or a share
link first); a public site's anonymous reads are the S3 bucket policy's
(:mod:`workers.store.s3`).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from config.errors import ObjectNotFound, PreconditionFailed, StoreError
from workers.store.base import ObjectInfo

_LOCK_DIR = ".locks"
_CHUNK = 1024 * 1024


class LocalStore:
    """Object store backed by a local directory (see module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._faults = 0
        self._faults_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def bootstrap(self) -> None:
        """Nothing to create beyond the root; a local directory has no access policy."""
        self.root.mkdir(parents=True, exist_ok=True)

    def inject_faults(self, count: int) -> None:
        """Make the next ``count`` operations raise a transient StoreError."""
        with self._faults_lock:
            self._faults = count

    def _maybe_fail(self, op: str, key: str) -> None:
        with self._faults_lock:
            if self._faults <= 0:
                return
            self._faults -= 1
        raise StoreError(f"local store: injected transient failure in {op} {key}")

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"invalid object key {key!r}")
        if parts[0] == _LOCK_DIR:
            raise ValueError(f"object key {key!r} uses the reserved prefix {_LOCK_DIR}/")
        return self.root.joinpath(*parts)

    @contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        lock_dir = self.root / _LOCK_DIR
        lock_dir.mkdir(exist_ok=True)
        name = hashlib.sha256(key.encode()).hexdigest()[:32]
        with open(lock_dir / name, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        self._maybe_fail("put", key)
        path = self._path(key)
        if if_match is None and not if_none_match:
            self._write(path, data)
            return _etag(data)
        with self._locked(key):
            current = self.head(key)
            if if_none_match and current is not None:
                raise PreconditionFailed(f"{key} already exists")
            if if_match is not None and (current is None or current.etag != if_match):
                raise PreconditionFailed(f"{key} changed since it was read")
            self._write(path, data)
        return _etag(data)

    def put_file(
        self, key: str, path: Path, *, content_type: str = "application/octet-stream"
    ) -> str:
        """Copy the file in 1 MiB chunks to a temporary file next to the object, then rename."""
        self._maybe_fail("put", key)
        target = self._path(key)
        try:
            with Path(path).open("rb") as source:
                return self._write_stream(target, source)
        except OSError as exc:
            raise StoreError(f"local store: cannot store {path} as {key}: {exc.strerror}") from exc

    def get_file(self, key: str, path: Path) -> int:
        """Copy the object in 1 MiB chunks to ``path`` (replaced); returns its size."""
        self._maybe_fail("get", key)
        try:
            with self._path(key).open("rb") as source:
                return _copy_stream(source, Path(path))
        except FileNotFoundError:
            raise ObjectNotFound(f"no object {key} in {self.root}") from None
        except OSError as exc:
            raise StoreError(f"local store: cannot read {key}: {exc.strerror}") from exc

    def get_head(self, key: str, size: int) -> bytes:
        """The first ``size`` bytes of the object."""
        self._maybe_fail("get", key)
        try:
            with self._path(key).open("rb") as source:
                return source.read(size)
        except FileNotFoundError:
            raise ObjectNotFound(f"no object {key} in {self.root}") from None
        except OSError as exc:
            raise StoreError(f"local store: cannot read {key}: {exc.strerror}") from exc

    def _write_stream(self, path: Path, source: BinaryIO) -> str:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with os.fdopen(fd, "wb") as handle:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    handle.write(chunk)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest.hexdigest()

    def _write(self, path: Path, data: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StoreError(f"local store: cannot write {path}: {exc.strerror}") from exc

    def get(self, key: str) -> bytes:
        self._maybe_fail("get", key)
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(f"no object {key} in {self.root}") from None
        except OSError as exc:
            raise StoreError(f"local store: cannot read {key}: {exc.strerror}") from exc

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            with path.open("rb") as handle:  # in chunks: an original may be large
                digest = hashlib.md5(usedforsecurity=False)
                size = 0
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
            modified = path.stat().st_mtime
        except (FileNotFoundError, IsADirectoryError):
            return None
        return ObjectInfo(key=key, size=size, etag=digest.hexdigest(), modified=modified)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> Iterator[str]:
        base = self.root
        keys = []
        for dirpath, dirnames, filenames in os.walk(base):
            rel_dir = os.path.relpath(dirpath, base)
            if rel_dir == _LOCK_DIR:
                dirnames[:] = []
                continue
            for name in filenames:
                if name.startswith(".tmp-"):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
                if key.startswith(prefix):
                    keys.append(key)
        yield from sorted(keys)

    def list_info(self, prefix: str) -> Iterator[ObjectInfo]:
        for key in self.list(prefix):
            info = self.head(key)
            if info is not None:  # deleted since it was listed
                yield info

    def presigned_get(self, key: str, *, expires_seconds: int = 3600) -> str:
        """A file:// URL (a local directory needs no signature)."""
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFound(f"no object {key} in {self.root}")
        return path.resolve().as_uri()

    def delete(self, key: str) -> None:
        self._maybe_fail("delete", key)
        self._path(key).unlink(missing_ok=True)


def _etag(data: bytes) -> str:
    # S3 uses the MD5 of a single-part object; matching it keeps ETags comparable.
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _copy_stream(source: BinaryIO, dest: Path) -> int:
    size = 0
    with dest.open("wb") as out:
        while chunk := source.read(_CHUNK):
            out.write(chunk)
            size += len(chunk)
    return size
