"""``panodock review list|approve|reject|fix|policy``: scenes held for a person.

The actions are :mod:`workers.ops.review`'s; ``policy`` shows or sets a site's review
policy in its registry (``never``, ``on_warning``, ``always``; ``default``: PANODOCK_REVIEW).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from config.settings import Settings
from workers.cli.command import Command, connect
from workers.contract.site import REVIEW_POLICIES

if TYPE_CHECKING:
    from ingest.sidecar import BlurRegion
    from workers.store.base import ObjectStore


class Review(Command):
    """List held scenes, approve, reject or fix one."""

    name = "review"
    help = "scenes held for review: list, approve, reject, fix; a site's review policy"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="captures in review, newest first")
        policy = sub.add_parser("policy", help="show or set a site's review policy")
        policy.add_argument("site")
        policy.add_argument(
            "policy", nargs="?", choices=[*REVIEW_POLICIES, "default"],
            help="never, on_warning or always; default: back to PANODOCK_REVIEW",
        )  # fmt: skip
        approve = sub.add_parser("approve", help="make the held version live")
        approve.add_argument("capture", help="a capture id (or its first characters)")
        approve.add_argument("--note", help="a remark kept in the capture's history")
        reject = sub.add_parser("reject", help="fail the capture; its version never goes live")
        reject.add_argument("capture")
        reject.add_argument("--reason", required=True)
        fix = sub.add_parser("fix", help="render again from the original with overrides")
        fix.add_argument("capture")
        fix.add_argument("--pitch", type=float, help="camera pitch to level, degrees")
        fix.add_argument("--roll", type=float, help="camera roll to level, degrees")
        fix.add_argument("--heading", type=float, help="compass heading of yaw 0, degrees")
        fix.add_argument("--lens", metavar="PROFILE", help="a lens profile name, or generic")
        fix.add_argument(
            "--blur", action="append", default=[], metavar="YAW,PITCH,WIDTH,HEIGHT",
            help="a region to blur, degrees in the published scene; repeatable",
        )  # fmt: skip

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        from pydantic import ValidationError

        from workers.ops import review
        from workers.queue.actors import App
        from workers.state.ledger import Overrides
        from workers.store.factory import make_store

        store = make_store(settings)
        if args.action == "policy":
            return _policy(store, settings, args.site, args.policy)
        url, _ = connect(settings)
        app = App(settings, url)
        by = review.cli_user()
        if args.action == "list":
            rows = review.held(app, store)
            for capture, hold in rows:
                print(f"{capture.id[:12]}  {capture.site}/{capture.scene}  {hold.version}  "
                      f"held {hold.held_at:%Y-%m-%d %H:%M}  {capture.reason}")  # fmt: skip
            print(f"{len(rows)} capture(s) in review")
            return 0
        try:
            if args.action == "approve":
                done = review.approve(app, store, args.capture, by=by, note=args.note)
                print(f"capture {done.id[:12]} approved: {done.site}/{done.scene} is published")
            elif args.action == "reject":
                done = review.reject(app, store, args.capture, by=by, reason=args.reason)
                print(f"capture {done.id[:12]} rejected")
            else:
                overrides = Overrides(
                    pitch_deg=args.pitch, roll_deg=args.roll, heading_deg=args.heading,
                    lens=args.lens,
                )  # fmt: skip
                regions = [_region(spec) for spec in args.blur]
                done = review.fix(app, store, args.capture, by=by, overrides=overrides,
                                  blur=regions)  # fmt: skip
                print(f"capture {done.id[:12]} queued: rendered again with the fix")
        except (ValueError, ValidationError) as exc:
            print(f"panodock review: {exc}", file=sys.stderr)
            return 2
        except review.ReviewError as exc:
            print(f"panodock review: {exc}", file=sys.stderr)
            return 1
        review.audit_cli(app, by, f"review {args.action} {done.id}")
        return 0


def _policy(store: ObjectStore, settings: Settings, site: str, policy: str | None) -> int:
    """Print, or set and print, when a site's scenes wait for a person."""
    from config.names import slug
    from workers.sites.registry import load_site, update_site

    site = slug(site)
    if policy is not None:
        chosen = None if policy == "default" else policy
        update_site(store, site, lambda s: s.model_copy(update={"review": chosen}))
    registry = load_site(store, site)
    if registry is not None and registry.review is not None:
        print(f"site {site}: review {registry.review} (the site's own policy)")
    else:
        print(f"site {site}: review {settings.review} (PANODOCK_REVIEW)")
    return 0


def _region(spec: str) -> BlurRegion:
    from ingest.sidecar import BlurRegion

    yaw, pitch, width, height = (float(v) for v in spec.split(","))
    return BlurRegion(yaw_deg=yaw, pitch_deg=pitch, width_deg=width, height_deg=height)


COMMANDS: tuple[Command, ...] = (Review(),)
