"""The lens check of a scene whose lens was fitted from the frame: held for review."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from workers.pipeline.review import decide
from workers.pipeline.stages.checks import lens_check


def _job(lens_fit: dict[str, Any]) -> Any:
    source = SimpleNamespace(
        kind="dual_fisheye",
        details={"profile": "fitted", "lens_fit": lens_fit},
        equirect=np.zeros((8, 16, 3), np.uint8),
    )
    meta = SimpleNamespace(make=None, model=None)
    return SimpleNamespace(
        need_source=lambda: source, need_meta=lambda: meta, lens=None, lens_note=None,
        sidecar=None,
        capture=SimpleNamespace(overrides=SimpleNamespace(lens=None)),
    )  # fmt: skip


_FIT = {
    "projection": "equisolid", "fov_deg": [196.45, 196.45], "seam_shift_generic_px": 13.07,
    "seam_shift_px": 0.02,
}  # fmt: skip


def test_a_converged_fit_warns_so_the_scene_is_reviewed() -> None:
    check = lens_check(_job({**_FIT, "converged": True, "reason": ""}))
    assert check is not None and (check.verdict, check.value) == ("warn", "fitted")
    assert "lens fitted from the frame (equisolid 196.45°, seam 13.07 -> 0.02 px)" in check.message
    assert decide([check], "on_warning").decision == "hold"


def test_a_fit_that_did_not_converge_holds_the_scene_with_the_reason() -> None:
    reason = "the two circles do not show the same scene where they overlap"
    check = lens_check(_job({**_FIT, "converged": False, "reason": reason}))
    assert check is not None and (check.verdict, check.value) == ("review", "unfitted")
    assert reason in check.message and "give the capture a lens profile" in check.message
    verdict = decide([check], "on_warning")
    assert verdict.decision == "hold" and reason in verdict.reason
    # Held whatever the site's policy: never published as it is without a person.
    assert decide([check], "never").decision == "hold"
    assert decide([check], "never", approved=True).decision == "publish"
