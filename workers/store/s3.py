"""S3 / MinIO object store, through the official ``minio`` SDK.

- **Private by default.** Bootstrap creates the bucket and its access policy: nothing is
  readable without credentials unless a site opted in (``visibility: public`` in its
  ``site.json``); then one policy statement per public site allows anonymous GetObject on
  that site's published prefixes (:func:`public_resources`) and on ``schemas/``. Originals
  (``raw/``), work objects and every other site stay private; with no public site the
  policy is deleted. :meth:`S3Store.apply_public_sites` re-applies it when a site's
  visibility changes (``panodock site visibility``), with nothing to restart.
- **Large originals** go up as multipart uploads (the SDK splits anything over 5 MiB).
- **Conditional writes** (``current.json``, ``tour.json``) send ``If-Match`` /
  ``If-None-Match``. The SDK's public ``put_object`` turns unknown headers into user
  metadata, so those go through its own ``_put_object`` PutObject call, which sends them
  as given; S3, MinIO and SeaweedFS answer 412 PreconditionFailed when the object changed.
- **Retries**: the SDK's HTTP client is built with urllib3 retries off, and this module
  retries what the outcome table (``config.outcomes``) calls transient, with exponential
  backoff;
  what is still failing becomes a :class:`StoreError` and the job is retried by dramatiq.
  Credentials are never logged or put in a message.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import urllib3
from minio import Minio
from minio.error import S3Error
from urllib3.exceptions import HTTPError as Urllib3Error

from config.errors import ObjectNotFound, PreconditionFailed, StoreError
from config.outcomes import s3_code_outcome
from workers.contract.keys import tour_key
from workers.store.base import ObjectInfo

log = logging.getLogger(__name__)
T = TypeVar("T")
#: The JSON Schemas, public as soon as one site is (its viewers validate against them).
SCHEMAS = "schemas/*"

#: What an S3 error code means to the store, beyond retrying: a missing object, a lost
#: conditional write, or a setting to fix (named in the message). Whether a code is
#: transient is the one outcome table's call (``config.outcomes.S3_CODES``).
S3_MEANINGS: dict[str, str] = {
    "NoSuchKey": "missing",
    "NoSuchObject": "missing",
    "PreconditionFailed": "precondition",
    "InvalidAccessKeyId": "credentials",
    "SignatureDoesNotMatch": "credentials",
    "AccessDenied": "credentials",
    "NoSuchBucket": "bucket",
}


def classify(exc: BaseException) -> str:
    """``retry``, ``missing``, ``precondition``, ``credentials``, ``bucket`` or ``fatal``."""
    if isinstance(exc, S3Error):
        code = exc.code or ""
        if code in S3_MEANINGS:
            return S3_MEANINGS[code]
        return "retry" if s3_code_outcome(code) == "retry" else "fatal"
    if isinstance(exc, (Urllib3Error, ConnectionError, TimeoutError)):
        return "retry"  # connection refused or reset, timeouts: the server may come back
    return "fatal"


def make_client(
    endpoint: str,
    *,
    access_key: str,
    secret_key: str,
    secure: bool = True,
    region: str | None = None,
    pool_size: int = 16,
) -> Minio:
    """A Minio client with timeouts and no hidden retries (this module retries)."""
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5.0, read=60.0),
        maxsize=pool_size,
        retries=urllib3.Retry(total=0, redirect=0, raise_on_status=False),
    )
    return Minio(
        endpoint,
        access_key=access_key,
        secret_key=secret_key,
        secure=secure,
        region=region,
        http_client=http,
    )


def public_resources(site: str) -> list[str]:
    """Key patterns a public site makes anonymously readable: its scenes, tour and plans.

    Not its ``site.json`` (control points carry GPS positions), nor its tour entries.
    """
    return [f"scenes/{site}/*", tour_key(site), f"sites/{site}/plans/*"]


class S3Store:
    """Object store in one S3 bucket (see module docstring)."""

    def __init__(
        self, *, client: Minio, bucket: str, attempts: int = 5, backoff: float = 0.25
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.attempts = attempts
        self.backoff = backoff

    def __repr__(self) -> str:
        return f"S3Store({self.client._base_url.host}/{self.bucket})"

    # -- the retry loop -------------------------------------------------------------------

    def _call(self, op: str, key: str, fn: Callable[[], T]) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except Exception as exc:  # classified below; nothing is swallowed
                outcome = classify(exc)
                if outcome == "retry" and attempt < self.attempts:
                    delay = self.backoff * 2 ** (attempt - 1)
                    log.warning("S3 %s %s failed (%s); retrying in %.2f s", op, key, exc, delay)
                    time.sleep(delay)
                    continue
                raise self._translate(op, key, exc, outcome) from exc
        raise AssertionError("unreachable")

    def _translate(self, op: str, key: str, exc: BaseException, outcome: str) -> Exception:
        where = f"s3://{self.bucket}/{key}"
        if outcome == "missing":
            return ObjectNotFound(f"no object {where}")
        if outcome == "precondition":
            return PreconditionFailed(f"{where} changed since it was read")
        if outcome == "credentials":
            code = exc.code if isinstance(exc, S3Error) else "denied"
            return StoreError(
                f"S3 refused the credentials for {where} ({code}): check "
                "PANODOCK_S3_ACCESS_KEY and PANODOCK_S3_SECRET_KEY"
            )
        if outcome == "bucket":
            return StoreError(
                f"bucket {self.bucket} does not exist: start panodock once with these "
                "settings (it creates the bucket) or create it"
            )
        return StoreError(f"S3 {op} {where} failed: {type(exc).__name__}: {exc}")

    # -- the ObjectStore interface ---------------------------------------------------------

    def bootstrap(self) -> None:
        """Create the bucket if needed and apply the access policy of its public sites."""
        from workers.sites.registry import public_sites  # the registries decide, not settings

        def run() -> None:
            if not self.client.bucket_exists(self.bucket):
                self.client.make_bucket(self.bucket)

        self._call("bootstrap", "", run)
        self.apply_public_sites(public_sites(self))

    def policy(self, public: Iterable[str] = ()) -> dict[str, object] | None:
        """The bucket policy for the sites in ``public``, or None (no public site: private).

        One statement per public site, so opting one out removes exactly its statement.
        """
        sites = sorted(set(public))
        if not sites:
            return None
        statements = [self._allow([SCHEMAS])] + [
            self._allow(public_resources(site)) for site in sites
        ]
        return {"Version": "2012-10-17", "Statement": statements}

    def _allow(self, resources: list[str]) -> dict[str, object]:
        return {
            "Effect": "Allow",
            "Principal": {"AWS": ["*"]},
            "Action": ["s3:GetObject"],
            "Resource": [f"arn:aws:s3:::{self.bucket}/{r}" for r in resources],
        }

    def apply_public_sites(self, public: Iterable[str]) -> None:
        """Make exactly the sites in ``public`` anonymously readable (see module docstring)."""
        sites = sorted(set(public))
        policy = self.policy(sites)

        def run() -> None:
            if policy is not None:
                self.client.set_bucket_policy(self.bucket, json.dumps(policy))
                return
            try:
                self.client.delete_bucket_policy(self.bucket)
            except S3Error as exc:
                if exc.code != "NoSuchBucketPolicy":
                    raise

        self._call("set policy", "", run)
        shown = ", ".join(sites) or "none (bucket private)"
        log.info("bucket %s: public sites: %s", self.bucket, shown)

    def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        if if_match is None and not if_none_match:
            return self._call(
                "put",
                key,
                lambda: self.client.put_object(
                    self.bucket, key, io.BytesIO(data), len(data), content_type=content_type
                ).etag
                or "",
            )
        headers: dict[str, str | list[str] | tuple[str]] = {"Content-Type": content_type}
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"'
        if if_none_match:
            headers["If-None-Match"] = "*"
        return self._call(
            "conditional put",
            key,
            lambda: self.client._put_object(self.bucket, key, data, headers=headers).etag or "",
        )

    def put_file(
        self, key: str, path: Path, *, content_type: str = "application/octet-stream"
    ) -> str:
        return self._call(
            "put",
            key,
            lambda: self.client.fput_object(
                self.bucket, key, str(path), content_type=content_type
            ).etag
            or "",
        )

    def get(self, key: str) -> bytes:
        def run() -> bytes:
            response = self.client.get_object(self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        return self._call("get", key, run)

    def get_head(self, key: str, size: int) -> bytes:
        """The first ``size`` bytes of the object (a ranged GET)."""

        def run() -> bytes:
            response = self.client.get_object(self.bucket, key, offset=0, length=size)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        return self._call("get", key, run)

    def get_file(self, key: str, path: Path) -> int:
        """Download the object into ``path`` in parts (the SDK streams it); returns its size."""

        def run() -> int:
            self.client.fget_object(self.bucket, key, str(path))
            return Path(path).stat().st_size

        return self._call("get", key, run)

    def head(self, key: str) -> ObjectInfo | None:
        try:
            stat = self._call("head", key, lambda: self.client.stat_object(self.bucket, key))
        except ObjectNotFound:
            return None
        modified = stat.last_modified.timestamp() if stat.last_modified else None
        return ObjectInfo(
            key=key, size=stat.size or 0, etag=(stat.etag or "").strip('"'), modified=modified
        )

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def list(self, prefix: str) -> Iterator[str]:
        for info in self.list_info(prefix):
            yield info.key

    def list_info(self, prefix: str) -> Iterator[ObjectInfo]:
        objects = self._call(
            "list",
            prefix,
            lambda: list(self.client.list_objects(self.bucket, prefix=prefix, recursive=True)),
        )
        for obj in sorted(objects, key=lambda o: o.object_name or ""):
            modified = obj.last_modified.timestamp() if obj.last_modified else None
            yield ObjectInfo(
                key=obj.object_name or "",
                size=obj.size or 0,
                etag=(obj.etag or "").strip('"'),
                modified=modified,
            )

    def delete(self, key: str) -> None:
        self._call("delete", key, lambda: self.client.remove_object(self.bucket, key))

    def presigned_get(self, key: str, *, expires_seconds: int = 3600) -> str:
        """A URL that downloads a (private) object without credentials, for a while."""
        from datetime import timedelta

        return self._call(
            "presign",
            key,
            lambda: self.client.presigned_get_object(
                self.bucket, key, expires=timedelta(seconds=expires_seconds)
            ),
        )
