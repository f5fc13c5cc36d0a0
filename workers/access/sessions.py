"""Console sessions: a random id in an HttpOnly cookie, stored hashed in Redis with a TTL.

A session remembers who logged in (the admin token, or an API key by id); a session of a
key is checked against the key on every request, so revoking the key ends the session.
"""

from __future__ import annotations

import json

import redis

from workers.access.tokens import digest, new_token

_KEY = "panodock:session:"
#: The cookie's name.
COOKIE = "panodock_session"


class Sessions:
    """Console sessions of one service."""

    def __init__(self, *, client: redis.Redis, ttl_seconds: int) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds

    def create(self, who: dict[str, str]) -> str:
        """A new session for ``who`` (``{"kind": "admin"}`` or ``{"kind": "key", "id": …}``)."""
        sid = new_token()
        self.client.set(_KEY + digest(sid), json.dumps(who), ex=self.ttl_seconds)
        return sid

    def resolve(self, sid: str) -> dict[str, str] | None:
        """Who the session belongs to, or None (unknown or expired)."""
        raw = self.client.get(_KEY + digest(sid))
        return json.loads(raw) if raw else None

    def end(self, sid: str) -> None:
        """Log out."""
        self.client.delete(_KEY + digest(sid))
