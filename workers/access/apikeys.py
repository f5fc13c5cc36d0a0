"""API keys with a role, for people and programs: ``viewer`` < ``operator`` < ``admin``.

``viewer`` reads published scenes (of its sites, or of every site); ``operator`` also reads
the ops console and acts on captures (retry, requeue, republish, place); ``admin`` also
manages shares, keys and site settings. A key is shown once at creation and stored as
its SHA-256 (``panodock:apikeys`` by id, ``panodock:apikey-token:<sha256>`` to find it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import IntEnum

import redis
from pydantic import BaseModel, Field

from config.errors import ConfigError, PanodockError
from workers.access.records import HashedRecords
from workers.access.tokens import digest, new_id, new_token, now

_RECORDS = "panodock:apikeys"
_INDEX = "panodock:apikey-token:"
#: Every API key starts with this, so a leaked one is recognisable in a scan.
PREFIX = "pdk_"


class KeyNotFound(PanodockError):
    """No API key has that id."""


class Role(IntEnum):
    """What a credential may do; a higher role includes every lower one."""

    viewer = 1
    operator = 2
    admin = 3

    @classmethod
    def named(cls, name: str) -> Role:
        """The role called ``name``."""
        try:
            return cls[name]
        except KeyError:
            raise ConfigError(
                f"no role {name!r}: use one of {', '.join(r.name for r in cls)}"
            ) from None


class ApiKey(BaseModel):
    """One API key, as stored (without the key)."""

    id: str
    label: str
    role: str
    sites: list[str] = Field(default_factory=list, description="Empty: every site.")
    key_sha256: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def active(self, at: datetime | None = None) -> bool:
        """Not revoked and not expired."""
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or (at or now()) < self.expires_at

    def public(self) -> dict[str, object]:
        """What ``keys list`` shows (no hash)."""
        return self.model_dump(mode="json", exclude={"key_sha256"})


class ApiKeys:
    """The API keys of one service, in its Redis."""

    def __init__(self, *, client: redis.Redis) -> None:
        self.client = client
        self._records: HashedRecords[ApiKey] = HashedRecords(
            client=client,
            model=ApiKey,
            records=_RECORDS,
            index=_INDEX,
            hash_of=lambda key: key.key_sha256,
            not_found=lambda key_id: KeyNotFound(
                f"no API key {key_id}; `panodock keys list` shows them"
            ),
        )

    def create(
        self,
        role: Role,
        *,
        label: str,
        sites: list[str] | None = None,
        expires_in: timedelta | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key and its secret (the only time it exists in the clear)."""
        secret = new_token(PREFIX)
        created = now()
        key = ApiKey(
            id=new_id(), label=label, role=role.name, sites=sorted(set(sites or [])),
            key_sha256=digest(secret), created_at=created,
            expires_at=created + expires_in if expires_in else None,
        )  # fmt: skip
        self._records.add(key)
        return key, secret

    def get(self, key_id: str) -> ApiKey:
        """The key with that id."""
        return self._records.get(key_id)

    def list(self) -> list[ApiKey]:
        """Every key, newest first."""
        return sorted(self._records.all(), key=lambda k: k.created_at, reverse=True)

    def any(self) -> bool:
        """Whether any key was ever created (then every read needs a credential)."""
        return self._records.any()

    def revoke(self, key_id: str) -> ApiKey:
        """Stop a key now, on every serving process."""
        return self._records.revoke(key_id)

    def resolve(self, secret: str) -> ApiKey | None:
        """The active key of a secret, or None."""
        return self._records.resolve(secret)
