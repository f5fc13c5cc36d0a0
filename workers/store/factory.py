"""The object store the settings name: S3 when an endpoint is set, else the local directory."""

from __future__ import annotations

from config.settings import Settings
from workers.store.base import ObjectStore
from workers.store.local import LocalStore


def make_store(settings: Settings) -> ObjectStore:
    """The object store named by the settings: S3 when an endpoint is set, else local."""
    if settings.s3_endpoint:
        from workers.store.s3 import S3Store, make_client  # minio only when used

        secret = settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else ""
        client = make_client(
            settings.s3_endpoint,
            access_key=settings.s3_access_key or "",
            secret_key=secret,
            secure=settings.s3_secure,
            region=settings.s3_region,
            pool_size=settings.upload_threads + 4,
        )
        return S3Store(client=client, bucket=settings.s3_bucket)
    return LocalStore(settings.store_root)
