"""Review actions, shared by ``panodock review`` and the review API: list, approve, reject, fix.

Every action names who asked (``by``: the OS user on the host, the credential's label in
the API), is recorded in the capture's history with who and when, and is appended to the
audit stream (the API's requests are audited by its middleware; :func:`audit_cli` does it
for the command line).

- :func:`approve` makes the held version live exactly as a normal publish would: the
  conditional ``current.json`` swap (never back in time), then the scene's tour entry,
  then ``published`` in the ledger and the ``scene.published`` webhook. A dual-fisheye
  scene whose lens check warned teaches the site that camera's lens
  (:mod:`workers.sites.cameras`): a lens fitted from the frame is remembered as the
  camera's fit when the fit converged, never when it was refused.
- :func:`reject` fails the capture with the reason (``capture.failed``); the version is
  left to gc.
- :func:`fix` queues the capture again with overrides (levelling, heading, lens, regions
  to blur) kept on the capture; they enter the version hash, so a new version is rendered
  from the original and is published or held again by the policy.
"""

from __future__ import annotations

import getpass
import socket
from datetime import UTC, datetime
from typing import Any

from config.data import LENSES_TOML
from config.errors import PanodockError
from config.webhooks import CAPTURE_FAILED, SCENE_PUBLISHED
from ingest.sidecar import BlurRegion, Sidecar, parse_sidecar
from stitching.lens import parse_profiles
from workers.access.audit import AuditEntry, AuditLog
from workers.contract.keys import SceneKeys
from workers.contract.scene import SceneManifest
from workers.contract.tour import Placement
from workers.notify import events
from workers.pipeline import review
from workers.pipeline.stages.publish import swap_pointer, update_tour
from workers.pipeline.stages.review import LENS_CHECK
from workers.queue.actors import App
from workers.sites.cameras import GENERIC_LENS, camera_name, fit_frame, remember_fit, remember_lens
from workers.state.ledger import Approval, Capture, Overrides, State
from workers.store.base import ObjectStore

#: States a capture can be fixed from (a published one too: a fix makes a new version).
FIXABLE = frozenset({State.REVIEW, State.PUBLISHED, State.FAILED})


class ReviewError(PanodockError):
    """A review action does not apply to this capture (e.g. it is not in review)."""


def cli_user() -> str:
    """Who acts from the command line: ``<user>@<host>``."""
    return f"{getpass.getuser()}@{socket.gethostname()}"


def audit_cli(app: App, by: str, what: str) -> None:
    """Append a command-line action to the audit stream (the API's are audited per request)."""
    AuditLog(client=app.ledger.client, days=app.settings.audit_days).append([AuditEntry(
        at=datetime.now(UTC), kind="cli", id=by, label=by, client="localhost",
        method="CLI", path=what, status=0, bytes=0,
    )])  # fmt: skip


def held(app: App, store: ObjectStore, limit: int = 500) -> list[tuple[Capture, review.Hold]]:
    """Captures in review, newest first, with their held version's record."""
    out = []
    for capture in app.ledger.in_state(State.REVIEW, limit=limit):
        hold = review.load_hold(store, keys_of(capture)) if capture.version else None
        if hold is not None:
            out.append((capture, hold))
    return out


def keys_of(capture: Capture) -> SceneKeys:
    """The keys of the version a capture made (its held version in review)."""
    if capture.version is None:
        raise ReviewError(f"capture {capture.id[:12]} has no rendered version")
    return SceneKeys(capture.site, capture.scene, capture.version)


def in_review(app: App, capture_id: str) -> Capture:
    """The capture ``capture_id`` (or its prefix), which must be in review."""
    capture = app.ledger.find(capture_id)
    if capture.state != State.REVIEW:
        raise ReviewError(f"capture {capture.id[:12]} is {capture.state.value}, not in review")
    return capture


def approve(
    app: App, store: ObjectStore, capture_id: str, *, by: str, note: str | None = None
) -> Capture:
    """Make the held version live (module docstring); returns the published capture."""
    capture = in_review(app, capture_id)
    keys = keys_of(capture)
    hold = review.load_hold(store, keys)
    manifest = SceneManifest.model_validate_json(store.get(keys.manifest))
    live, outcome = swap_pointer(store, keys, capture)
    if live:
        update_tour(store, app.settings, manifest, sidecar_of(store, capture),
                    hold.placement if hold and hold.placement else Placement())  # fmt: skip
    approval = Approval(version=keys.version, by=by, at=datetime.now(UTC), note=note)
    done = app.ledger.transition(
        capture.id, State.PUBLISHED, expect={State.REVIEW}, version=keys.version,
        approvals=[*capture.approvals, approval], by=by,
        detail=f"approved by {by}{f' ({note})' if note else ''}: {outcome}",
    )  # fmt: skip
    if done is None:
        raise ReviewError(f"capture {capture.id[:12]} was decided by someone else meanwhile")
    review.drop_hold(store, keys)
    if hold is not None and manifest.kind == "dual_fisheye":
        _learn_lens(app, store, capture, hold, manifest, by)
    app.notify(SCENE_PUBLISHED, events.published(keys, capture.id))
    return done


def _learn_lens(
    app: App, store: ObjectStore, capture: Capture, hold: review.Hold,
    manifest: SceneManifest, by: str,
) -> None:  # fmt: skip
    """Remember the approved lens of the camera when its lens check warned or was fixed.

    A lens fitted to the frame is remembered as the camera's fit when the fit converged; a
    refused fit teaches nothing (unless an operator named the lens: ``fix --lens``).
    """
    details = manifest.stitch or {}
    if capture.overrides.lens is None and "lens_fit" in details:
        _learn_fit(app, store, capture, hold, details, by)
        return
    warned = any(c.name == LENS_CHECK and c.verdict == "warn" for c in hold.checks)
    if not (warned or capture.overrides.lens):
        return
    used = str(details.get("profile", ""))
    profiles = parse_profiles(LENSES_TOML.read_text(encoding="utf-8"))
    profile = capture.overrides.lens or (used if used in profiles else GENERIC_LENS)
    remember_lens(store, capture.site, make=hold.make, model=hold.model, profile=profile,
                  by=by, capture_id=capture.id)  # fmt: skip
    app.ledger.note(capture.id, f"lens {profile} remembered for this camera of "
                    f"{capture.site}", by=by)  # fmt: skip


def _learn_fit(
    app: App, store: ObjectStore, capture: Capture, hold: review.Hold,
    details: dict[str, Any], by: str,
) -> None:  # fmt: skip
    """Remember a converged lens fit for the camera, keyed by its frame (size and circles)."""
    fit = details.get("lens_fit")
    record = fit.get("profile") if isinstance(fit, dict) else None
    if not (isinstance(fit, dict) and fit.get("converged") is True and isinstance(record, dict)):
        app.ledger.note(capture.id, "the lens fit did not converge: nothing remembered for "
                        "this camera", by=by)  # fmt: skip
        return
    try:
        frame = fit_frame(record, details.get("circles"))
        remembered = remember_fit(
            store, capture.site, make=hold.make, model=hold.model, fit=record, frame=frame,
            by=by, capture_id=capture.id,
        )  # fmt: skip
    except ValueError as exc:  # a malformed record: the approval stands, nothing is learnt
        app.ledger.note(capture.id, f"the lens fit was not remembered: {exc}", by=by)
        return
    app.ledger.note(capture.id, f"lens fit remembered for {camera_name(remembered)} of "
                    f"{capture.site}", by=by)  # fmt: skip


def reject(app: App, store: ObjectStore, capture_id: str, *, by: str, reason: str) -> Capture:
    """Fail the held capture with ``reason``; its version never goes live."""
    if not reason.strip():
        raise ReviewError("a rejection needs a reason")
    capture = in_review(app, capture_id)
    done = app.ledger.transition(
        capture.id, State.FAILED, expect={State.REVIEW}, by=by,
        reason=f"rejected by {by}: {reason}",
    )  # fmt: skip
    if done is None:
        raise ReviewError(f"capture {capture.id[:12]} was decided by someone else meanwhile")
    review.drop_hold(store, keys_of(capture))
    app.notify(CAPTURE_FAILED, events.capture_outcome(done, done.reason))
    return done


def fix(
    app: App,
    store: ObjectStore,
    capture_id: str,
    *,
    by: str,
    overrides: Overrides | None = None,
    blur: list[BlurRegion] | None = None,
) -> Capture:
    """Render the capture again from its original with ``overrides`` and more regions."""
    capture = app.ledger.find(capture_id)
    if capture.state not in FIXABLE:
        raise ReviewError(
            f"capture {capture.id[:12]} is {capture.state.value}; fix it when it is in review"
        )
    given = overrides.given() if overrides else {}
    merged = capture.overrides.model_copy(update=given)
    regions = list(blur or [])
    if not given and not regions:
        raise ReviewError("a fix needs a pitch, roll, heading, lens or region to blur")
    what = ", ".join([*(f"{k}={v}" for k, v in given.items()),
                      *([f"{len(regions)} region(s) to blur"] if regions else [])])  # fmt: skip
    moved = app.ledger.transition(
        capture.id, State.QUEUED, expect={capture.state}, by=by,
        detail=f"fixed by {by}: {what}; rendering again from the original",
        overrides=merged, blur_regions=[*capture.blur_regions, *regions],
    )  # fmt: skip
    if moved is None:
        raise ReviewError(f"capture {capture.id[:12]} changed meanwhile; try again")
    if capture.state == State.REVIEW and capture.version:
        review.drop_hold(store, keys_of(capture))
    app.enqueue(capture.id)
    return moved


def sidecar_of(store: ObjectStore, capture: Capture) -> Sidecar | None:
    """The capture's sidecar as archived (None without one)."""
    entry = next((f for f in capture.files if f.name == capture.sidecar), None)
    return None if entry is None else parse_sidecar(store.get(entry.key), name=entry.name)


def item(capture: Capture, hold: review.Hold, base: str = "/api/review") -> dict[str, Any]:
    """One row of ``GET /api/review`` (README, Review)."""
    url = f"{base}/{capture.id}"
    return {
        "capture": capture.id, "site": capture.site, "scene": capture.scene,
        "version": hold.version, "received_at": capture.created_at.isoformat(),
        "held_at": hold.held_at.isoformat(), "reason": capture.reason or hold.reason,
        "checks": [c.model_dump(mode="json") for c in hold.checks],
        "thumb": f"{url}/thumb.jpg", "equirect": f"{url}/equirect.jpg",
        "scene_json": f"{url}/scene.json", "faces": f"{url}/faces",
        "viewer": f"{url}/tiles",  # the held tiles' base: <viewer>/<z>/<f>/<y>/<x>.jpg
        "overrides": capture.overrides.given(),
        "blur_regions": [r.model_dump(mode="json") for r in capture.blur_regions],
    }  # fmt: skip
