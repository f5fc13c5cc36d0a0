"""Who is calling the status service, what they may do, and the checks every request passes.

Credentials, checked in this order:

- ``Authorization: Bearer <secret>``: the admin bootstrap token (``PANODOCK_SERVE_TOKEN``,
  at least 32 characters) or an API key (:mod:`workers.access.apikeys`). Any other form of
  the header is no credential at all; a wrong secret is refused with 403.
- the console's session cookie (:mod:`workers.access.sessions`), given by ``POST /login``.

Share links (``/s/<token>/…``) are checked by :mod:`workers.http.gateway` and reach only
the gateway's routes. When no token is set and no key exists, the service is open to
loopback clients only (:func:`workers.http.api.check_bind` keeps it on loopback) and
actions are refused. Secrets are compared as SHA-256 digests in constant time and never
appear in a log line or a message: :class:`RedactTokens` masks share tokens in paths.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import redis
from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.errors import ConfigError
from config.settings import Settings
from workers.access.apikeys import ApiKeys, Role
from workers.access.audit import AuditEntry, AuditLog, AuditWriter
from workers.access.sessions import Sessions
from workers.access.shares import Shares
from workers.access.tokens import digest, now, same_digest

log = logging.getLogger(__name__)

#: The shortest admin token ``panodock serve`` accepts.
MIN_TOKEN_CHARS: Final = 32
_SHARE_PATH = re.compile(r"/s/[^/?#\s\"']+")


def redact(text: str) -> str:
    """``text`` with every share token in a ``/s/<token>`` path replaced."""
    return _SHARE_PATH.sub("/s/<redacted>", text)


class RedactTokens(logging.Filter):
    """Masks share tokens in log records (uvicorn's access log prints every path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def install_log_redaction() -> None:
    """Add :class:`RedactTokens` to the loggers that print request paths."""
    for name in ("uvicorn.access", "uvicorn.error", "uvicorn", "workers", "fastapi"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())


def check_token(settings: Settings) -> None:
    """Refuse an admin token shorter than :data:`MIN_TOKEN_CHARS` (never echoing it)."""
    if settings.serve_token is not None:
        length = len(settings.serve_token.get_secret_value())
        if length < MIN_TOKEN_CHARS:
            raise ConfigError(
                f"PANODOCK_SERVE_TOKEN is {length} characters; it must be at least "
                f"{MIN_TOKEN_CHARS}: make one with `python -c \"import secrets; "
                "print(secrets.token_urlsafe(32))\"`"
            )


def allowed_hosts(settings: Settings) -> frozenset[str]:
    """Host header names the service answers (without ports), lower-cased."""
    loopback = ["localhost", "127.0.0.1", "[::1]", settings.serve_host]
    names = list(settings.serve_allowed_hosts) or loopback
    if not settings.serve_allowed_hosts and settings.public_url:
        # Share links name this host: the proxy in front passes it on.
        names.append(urlsplit(settings.public_url).hostname or "")
    out = set()
    for name in names:
        name = name.strip().lower()
        out.add(f"[{name}]" if ":" in name and not name.startswith("[") else name)
    return frozenset(out)


def _host_name(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):
        return value.split("]", 1)[0] + "]"
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class HostCheck:
    """ASGI middleware: 400 for a Host header not in the allow-list (DNS rebinding)."""

    def __init__(self, app: ASGIApp, *, hosts: frozenset[str]) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if "*" not in self.hosts and _host_name(host) not in self.hosts:
                body = b"this Host is not served here; add it to PANODOCK_SERVE_ALLOWED_HOSTS\n"
                await send({"type": "http.response.start", "status": 400, "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ]})  # fmt: skip
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a kind (admin, key, share, local), an id, a label and a role."""

    kind: str
    id: str
    label: str
    role: Role
    sites: frozenset[str] = field(default_factory=frozenset)  # empty: every site

    def reads(self, site: str) -> bool:
        """Whether this principal may read ``site``'s published scenes."""
        return not self.sites or site in self.sites


ADMIN: Final = Principal("admin", "admin", "PANODOCK_SERVE_TOKEN", Role.admin)
#: A loopback client of a service with no credentials configured: it may read, not act.
LOCAL: Final = Principal("local", "local", "loopback", Role.operator)


def is_loopback(address: str | None) -> bool:
    """Whether a client address is a loopback IP."""
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class Access:
    """The credentials of one service: the admin token, keys, sessions, shares, the audit."""

    def __init__(self, settings: Settings, *, client: redis.Redis) -> None:
        secret = settings.serve_token.get_secret_value() if settings.serve_token else None
        self.token_sha256 = digest(secret) if secret else None
        self.keys = ApiKeys(client=client)
        self.shares = Shares(client=client)
        self.sessions = Sessions(client=client, ttl_seconds=int(settings.session_hours * 3600))
        self.audit = AuditLog(client=client, days=settings.audit_days)
        self.writer = AuditWriter(self.audit)

    def configured(self) -> bool:
        """Whether any credential exists (then every read needs one)."""
        return self.token_sha256 is not None or self.keys.any()

    def from_secret(self, secret: str) -> Principal | None:
        """The principal of a bearer secret (admin token or API key), or None."""
        hashed = digest(secret)
        if self.token_sha256 is not None and same_digest(hashed, self.token_sha256):
            return ADMIN
        key = self.keys.resolve(secret)
        if key is None:
            return None
        return Principal("key", key.id, key.label, Role[key.role], frozenset(key.sites))

    def from_session(self, sid: str) -> Principal | None:
        """The principal a session cookie stands for, or None."""
        who = self.sessions.resolve(sid)
        if who is None:
            return None
        if who.get("kind") == "admin":
            return ADMIN if self.token_sha256 is not None else None
        key_id = who.get("id", "")
        try:
            key = self.keys.get(key_id)
        except Exception:  # noqa: BLE001 - a session of a deleted key is no session
            return None
        if not key.active():
            return None
        return Principal("key", key.id, key.label, Role[key.role], frozenset(key.sites))

    def identify(self, request: Request) -> Principal | None:
        """The caller, None without a credential; 403 for a wrong bearer secret."""
        header = request.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme == "Bearer" and secret.strip():
            found = self.from_secret(secret.strip())
            if found is None:
                raise HTTPException(403, "this token or key is not valid (wrong, expired, revoked)")
            return found
        sid = request.cookies.get("panodock_session")
        return self.from_session(sid) if sid else None

    def require(self, role: Role, *, action: bool = False) -> Callable[[Request], Principal]:
        """A FastAPI dependency: the caller, who must hold ``role``."""

        def dependency(request: Request) -> Principal:
            return self.check(request, role, action=action)

        return dependency

    def check(self, request: Request, role: Role, *, action: bool = False) -> Principal:
        """The caller if they hold ``role``; 401 without a credential, 403 if not enough."""
        found = self.identify(request)
        if found is None:
            if not action and not self.configured():
                client = request.client.host if request.client else None
                if is_loopback(client):
                    return LOCAL
                raise HTTPException(403, "no credentials are configured: loopback clients only")
            raise HTTPException(
                401, f"this needs a credential with the {role.name} role "
                "(Authorization: Bearer <token or key>, or log in at /ops)",
                headers={"WWW-Authenticate": "Bearer"},
            )  # fmt: skip
        if found.role < role:
            raise HTTPException(403, f"this needs the {role.name} role; {found.label!r} is "
                                f"{found.role.name}")  # fmt: skip
        request.state.principal = found
        return found


class AuditRequests:
    """ASGI middleware: after each request made with a credential, queue an audit entry."""

    def __init__(self, app: ASGIApp, *, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen: dict[str, Any] = {"status": 500, "bytes": 0}

        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            elif message["type"] == "http.response.body":
                seen["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counting)
        finally:
            principal = scope.get("state", {}).get("principal")
            # Every read through a share or key, and every action by anyone.
            if isinstance(principal, Principal) and principal.kind != "local" and (
                principal.kind in ("share", "key") or scope["method"] not in ("GET", "HEAD")
            ):
                client = scope.get("client")
                self.access.writer.record(AuditEntry(
                    at=now(), kind=principal.kind, id=principal.id, label=principal.label,
                    client=client[0] if client else "", method=scope["method"],
                    path=redact(scope["path"]), status=seen["status"], bytes=seen["bytes"],
                ))  # fmt: skip
