"""Object storage: one interface, a local-directory backend (S3 comes with issue 4)."""

from workers.storage.base import ObjectInfo, ObjectStore
from workers.storage.local import LocalStore

__all__ = ["LocalStore", "ObjectInfo", "ObjectStore"]
