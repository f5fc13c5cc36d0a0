"""Share links: a random token scoped to one site (optionally some scenes), with an expiry.

Stored in Redis as the record by id (``panodock:shares``) and an index from the token's
SHA-256 to the id (``panodock:share-token:<sha256>``); the token itself is never stored.
Every request looks the share up again, so a revocation or an expiry is seen at once by
every serving process.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import redis
from pydantic import BaseModel, Field

from config.errors import PanodockError
from workers.access.records import HashedRecords
from workers.access.tokens import digest, new_id, new_token, now

_RECORDS = "panodock:shares"
_INDEX = "panodock:share-token:"
_USED = "panodock:share-used:"


class ShareNotFound(PanodockError):
    """No share has that id."""


class Share(BaseModel):
    """One share link, as stored (without its token)."""

    id: str
    label: str
    site: str
    scenes: list[str] = Field(default_factory=list, description="Empty: every scene of the site.")
    token_sha256: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    def active(self, at: datetime | None = None) -> bool:
        """Not revoked and not expired."""
        return self.revoked_at is None and (at or now()) < self.expires_at

    def covers(self, site: str, scene: str | None = None) -> bool:
        """Whether the share reaches ``site`` (and ``scene``, if given)."""
        if site != self.site:
            return False
        return scene is None or not self.scenes or scene in self.scenes

    def public(self) -> dict[str, object]:
        """What ``share list`` and the API show (no hash)."""
        return self.model_dump(mode="json", exclude={"token_sha256"})


class Shares:
    """The share links of one service, in its Redis."""

    def __init__(self, *, client: redis.Redis) -> None:
        self.client = client
        self._records: HashedRecords[Share] = HashedRecords(
            client=client,
            model=Share,
            records=_RECORDS,
            index=_INDEX,
            hash_of=lambda share: share.token_sha256,
            not_found=lambda share_id: ShareNotFound(
                f"no share {share_id}; `panodock share list` shows them"
            ),
        )

    def create(
        self, site: str, *, expires_in: timedelta, label: str, scenes: list[str] | None = None
    ) -> tuple[Share, str]:
        """A new share and its token (the only time the token exists in the clear)."""
        token = new_token()
        created = now()
        share = Share(
            id=new_id(), label=label, site=site, scenes=sorted(set(scenes or [])),
            token_sha256=digest(token), created_at=created, expires_at=created + expires_in,
        )  # fmt: skip
        self._records.add(share)
        return share, token

    def get(self, share_id: str) -> Share:
        """The share with that id (revoked or not)."""
        return self._records.get(share_id)

    def list(self, site: str | None = None) -> list[Share]:
        """Every share (of ``site``), newest first."""
        rows = [s for s in self._records.all() if site is None or s.site == site]
        return sorted(rows, key=lambda s: s.created_at, reverse=True)

    def revoke(self, share_id: str) -> Share:
        """Stop a share now; its token stops working on every serving process."""
        return self._records.revoke(share_id)

    def resolve(self, token: str) -> Share | None:
        """The active share of a token, or None (unknown, revoked or expired)."""
        return self._records.resolve(token)

    def first_use(self, share: Share) -> bool:
        """True exactly once per share: the first time any process sees it used."""
        return bool(self.client.set(_USED + share.id, now().isoformat(), nx=True))
