"""``panodock share|keys|audit``: share links for responders, API keys with roles, the audit.

A share's token and a key's secret are printed once, at creation; only their SHA-256 is
stored (:mod:`workers.access`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from config.settings import Settings
from workers.cli.command import Command, connect


def _table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    if not rows:
        print("(none)")
        return
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


class ShareCommand(Command):
    """``share create|list|revoke``."""

    name = "share"
    help = "share a site with a responder: create, list, revoke links"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="a new share link for a site (printed once)")
        create.add_argument("site")
        create.add_argument("--scene", action="append", default=[], help="only this scene")
        create.add_argument("--expires", default="30d", help="lifetime, e.g. 30d, 12h")
        create.add_argument("--label", required=True, help='who it is for, e.g. "County 911"')
        create.add_argument("--json", action="store_true")
        listing = sub.add_parser("list", help="share links (active, expired, revoked)")
        listing.add_argument("--site")
        listing.add_argument("--json", action="store_true")
        revoke = sub.add_parser("revoke", help="stop a share link now")
        revoke.add_argument("id")

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        from workers.access.shares import Shares
        from workers.access.tokens import parse_duration
        from workers.http.api import share_url

        _, ledger = connect(settings)
        shares = Shares(client=ledger.client)
        if args.action == "create":
            share, token = shares.create(
                args.site, expires_in=parse_duration(args.expires), label=args.label,
                scenes=args.scene,
            )  # fmt: skip
            out = {
                "id": share.id, "url": share_url(settings, token), "token": token,
                "site": share.site, "expires_at": share.expires_at.isoformat(),
            }  # fmt: skip
            if args.json:
                print(json.dumps(out))
            else:
                print(f"share {share.id} for {share.label!r}: site {share.site}"
                      + (f", scenes {', '.join(share.scenes)}" if share.scenes else ""))
                print(f"  url      {out['url']}")
                print(f"  expires  {out['expires_at']}")
                print("  the link is shown only now; send it, then `panodock share revoke "
                      f"{share.id}` stops it")  # fmt: skip
            return 0
        if args.action == "list":
            rows = [s.public() for s in shares.list(args.site)]
            if args.json:
                print(json.dumps(rows))
            else:
                _table(rows, ["id", "label", "site", "scenes", "expires_at", "revoked_at"])
            return 0
        revoked = shares.revoke(args.id)
        print(f"share {revoked.id} ({revoked.label}) revoked at {revoked.revoked_at}")
        return 0


class KeysCommand(Command):
    """``keys create|list|revoke``."""

    name = "keys"
    help = "API keys with a role (viewer, operator, admin): create, list, revoke"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="a new key (printed once)")
        create.add_argument("--role", required=True, choices=["viewer", "operator", "admin"])
        create.add_argument("--label", required=True)
        create.add_argument("--site", action="append", default=[], help="viewer: only this site")
        create.add_argument("--expires", help="lifetime, e.g. 90d (default: none)")
        create.add_argument("--json", action="store_true")
        listing = sub.add_parser("list", help="API keys")
        listing.add_argument("--json", action="store_true")
        revoke = sub.add_parser("revoke", help="stop a key now")
        revoke.add_argument("id")

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        from workers.access.apikeys import ApiKeys, Role
        from workers.access.tokens import parse_duration

        _, ledger = connect(settings)
        keys = ApiKeys(client=ledger.client)
        if args.action == "create":
            key, secret = keys.create(
                Role.named(args.role), label=args.label, sites=args.site,
                expires_in=parse_duration(args.expires) if args.expires else None,
            )  # fmt: skip
            if args.json:
                print(json.dumps({"id": key.id, "key": secret, **key.public()}))
            else:
                print(f"key {key.id} ({key.role}, {key.label!r}): {secret}")
                print("  shown only now; send it as `Authorization: Bearer <key>`")
            return 0
        if args.action == "list":
            rows = [k.public() for k in keys.list()]
            if args.json:
                print(json.dumps(rows))
            else:
                _table(rows, ["id", "label", "role", "sites", "expires_at", "revoked_at"])
            return 0
        revoked = keys.revoke(args.id)
        print(f"key {revoked.id} ({revoked.label}) revoked at {revoked.revoked_at}")
        return 0


class AuditCommand(Command):
    """``audit``: reads through shares and keys, and every action."""

    name = "audit"
    help = "the audit log: who read or did what, when, from where"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--share", help="only this share id")
        parser.add_argument("--key", help="only this API key id")
        parser.add_argument("--since", help="only the last e.g. 7d, 12h")
        parser.add_argument("--json", action="store_true", help="one JSON object per line")

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        from workers.access.audit import AuditLog
        from workers.access.tokens import parse_duration

        _, ledger = connect(settings)
        audit = AuditLog(client=ledger.client, days=settings.audit_days)
        entries = audit.read(
            share=args.share, key=args.key,
            since=parse_duration(args.since) if args.since else None,
        )  # fmt: skip
        if args.json:
            for entry in entries:
                print(entry.model_dump_json())
            return 0
        rows = [e.model_dump(mode="json") for e in entries]
        _table(rows, ["at", "kind", "id", "label", "client", "method", "status", "bytes", "path"])
        return 0


COMMANDS: tuple[Command, ...] = (ShareCommand(), KeysCommand(), AuditCommand())
