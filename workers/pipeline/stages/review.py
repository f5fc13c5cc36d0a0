"""The review stages: a failed check stops the job, a doubtful version waits for a person.

- :class:`Gate`, after the privacy stage and before anything is rendered: a check whose
  verdict is ``fail`` (a privacy search that did not cover the sphere above all) fails the
  capture with that check's message, so nothing of it is written under ``scenes/``; a
  version that will be held gets its review record now, before its first tile, so the
  gateway never serves a tile of it (:class:`workers.pipeline.review.HeldVersions`). A lens
  the site remembers for the camera turns the lens check's warning into a pass that names
  who approved it (:mod:`workers.sites.cameras`).
- :class:`Hold`, after ``scene.json`` and before the pointer: :func:`workers.pipeline.review.decide`
  under the site's policy. A held version keeps its review record and face boxes privately
  (``work/<site>/<scene>/<version>/``); the pointer swap and the tour are skipped, and the
  runner records the capture as ``review``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from config.errors import CaptureError
from stitching.privacy import rotate_region
from workers.contract.keys import review_key
from workers.contract.scene import Check, SceneManifest
from workers.pipeline import review
from workers.pipeline.job import Job
from workers.pipeline.stage import Context

#: Names of the checks these stages read (the checks stage writes them).
LENS_CHECK = "lens"
PRIVACY_CHECK = "privacy"


class Gate:
    """Fail the capture on a failed check; credit a remembered lens (module docstring)."""

    def done(self, job: Job, ctx: Context) -> bool:
        return job.complete

    def name(self, job: Job) -> str | None:
        return None  # a look at the checks: part of the privacy stage

    def run(self, job: Job, ctx: Context) -> None:
        job.checks = gated(job)
        verdict = _verdict(job, ctx, job.checks)
        if verdict.decision == "hold":  # recorded before the first tile: never reachable
            _save(job, ctx, verdict.reason, job.checks)


def gated(job: Job) -> list[Check]:
    """The job's checks with a remembered lens credited and an incomplete search failed."""
    checks = list(job.checks)
    if job.lens_note is not None:
        checks = [
            c.model_copy(update={"verdict": "ok", "message": job.lens_note})
            if c.name == LENS_CHECK and c.verdict == "warn" else c
            for c in checks
        ]  # fmt: skip
    privacy = job.privacy
    if (
        privacy is not None
        and not privacy.complete
        and not any(c.name == PRIVACY_CHECK for c in checks)
    ):
        checks.append(Check(
            name=PRIVACY_CHECK, value=privacy.views, verdict="fail",
            message="the face search did not cover the whole sphere",
        ))  # fmt: skip
    return checks


class Hold:
    """Keep a doubtful version from going live until a person decides (module docstring)."""

    def done(self, job: Job, ctx: Context) -> bool:
        return False  # a retry after scene.json decides again

    def name(self, job: Job) -> str | None:
        return None  # part of publishing

    def run(self, job: Job, ctx: Context) -> None:
        keys = job.need_keys()
        if job.manifest is None:  # written by an earlier attempt: its checks decide
            job.manifest = SceneManifest.model_validate_json(ctx.store.get(keys.manifest))
        # This attempt's checks (gated), or scene.json's when an earlier attempt wrote it.
        checks = job.manifest.checks if job.complete else job.checks
        verdict = _verdict(job, ctx, checks)
        if verdict.decision == "publish":
            if ctx.store.exists(review_key(keys.site, keys.scene, keys.version)):
                review.drop_hold(ctx.store, keys)  # held by an earlier attempt or policy
            return
        job.review = verdict.reason
        if not job.complete and not job.restored:
            review.save_faces(ctx.store, keys, levelled_faces(job))
        _save(job, ctx, verdict.reason, checks)


def _verdict(job: Job, ctx: Context, checks: list[Check]) -> review.Verdict:
    """The review decision for this job's version; a failed check raises CaptureError."""
    version = job.need_keys().version
    approved = any(a.version == version for a in job.capture.approvals)
    policy = review.review_policy(ctx.store, ctx.settings, job.capture.site)
    verdict = review.decide(checks, policy, approved=approved)
    if verdict.decision == "fail":
        raise CaptureError(f"not published: {verdict.reason}")
    return verdict


def _save(job: Job, ctx: Context, reason: str, checks: list[Check]) -> None:
    keys = job.need_keys()
    meta = job.meta
    review.save_hold(ctx.store, review.Hold(
        capture_id=job.id, site=keys.site, scene=keys.scene, version=keys.version,
        held_at=datetime.now(UTC), reason=reason, checks=checks, placement=job.placement,
        make=meta.make if meta else None,
        model=(meta.model if meta else None) or (job.sidecar.device if job.sidecar else None),
        lens=job.lens,
    ))  # fmt: skip


def levelled_faces(job: Job) -> review.Faces:
    """The job's detected faces in the published equirect's frame (levelling undone)."""
    boxes = []
    for face in job.faces:
        # job.rotation takes levelled directions to the source's; its transpose goes back.
        region = rotate_region(face, job.rotation.T) if job.rotation is not None else face
        boxes.append(review.FaceBox(
            yaw_deg=region.yaw_deg, pitch_deg=region.pitch_deg, width_deg=region.width_deg,
            height_deg=region.height_deg, score=region.score, source=region.source,
        ))  # fmt: skip
    size = job.manifest.equirect if job.manifest is not None else None
    return review.Faces(
        faces=boxes,
        equirect={"width": size.width, "height": size.height} if size else {},
    )
