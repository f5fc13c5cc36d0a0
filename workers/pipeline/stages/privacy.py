"""The privacy stage: blur faces and the regions asked for, before anything is rendered.

Every published pixel comes from the array this stage blurs in place, so a failure here
fails the capture unpublished. The stage runs when the capture's site requires blurring
(``Settings.blur_policy``); with the policy off the source is published as it is.

Faces are searched for in the scene as it will be published (levelled), in every view
turned four ways (:mod:`stitching.privacy.search`), so a capture that could not be levelled
is searched as well as a level one. What was searched
goes into ``scene.json`` (``privacy.views``, ``rolls_deg``, ``complete``); a search that
could not cover the whole sphere is recorded as incomplete, and the review gate that follows
(:class:`workers.pipeline.stages.review.Gate`) fails the capture before anything is drawn.
"""

from __future__ import annotations

from config.errors import CaptureError
from stitching.privacy import FaceRegion, blur_faces, rotate_region
from workers.contract.scene import Privacy
from workers.pipeline.job import Job, blur_regions
from workers.pipeline.stage import Context


class Blur:
    """Detect and blur faces, and blur the sidecar's and the operator's regions."""

    def done(self, job: Job, ctx: Context) -> bool:
        return job.complete or job.privacy is not None or job.policy == "off"

    def name(self, job: Job) -> str | None:
        return "privacy"

    def run(self, job: Job, ctx: Context) -> None:
        detector = ctx.inputs.detector
        if detector is None:
            raise CaptureError(
                f"face blurring is required for site {job.capture.site} but this worker has "
                "no face detector loaded; the scene is not published"
            )
        manual = [
            FaceRegion(
                yaw_deg=r.yaw_deg,
                pitch_deg=r.pitch_deg,
                width_deg=r.width_deg,
                height_deg=r.height_deg,
                source="manual",
            )
            for r in blur_regions(job.capture, job.sidecar)
        ]
        if job.rotation is not None:  # manual regions are given in the levelled scene
            manual = [rotate_region(r, job.rotation) for r in manual]
        equirect = job.need_source().equirect
        try:
            result = blur_faces(equirect, detector, extra_regions=manual, out=equirect,
                                rotation=job.rotation)  # fmt: skip
        finally:
            # The detector's arena (about 60 MB at 8K) would otherwise be held through
            # the tile stage, where the job peaks; growing it again costs no measurable CPU.
            detector.release_memory()
        job.faces = [r for r in result.regions if r.source == "detector"]  # for review
        job.privacy = Privacy(
            blurred=True,
            policy="required",
            regions=sum(1 for r in result.regions if r.source == "detector"),
            manual_regions=len(manual),
            detector=result.detector,
            detector_version=result.detector_version,
            threshold=ctx.settings.blur_threshold,
            views=result.views,
            rolls_deg=list(result.rolls_deg),
            complete=result.complete,
        )
