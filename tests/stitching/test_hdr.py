"""HDR brackets: lining them up (MTB) and fusing them (Mertens), on brackets of a real pano.

The brackets are rendered from the real sample panorama (Pannellum's example) as a camera
with a narrower range than the scene would take them: the scene's radiance is the sample's
linear light to the power 2.5 (2.5 times its range in stops), each bracket scales it by
2**EV, adds the sensor's read noise (seeded), clips at white and is stored as gamma-encoded
8 bits: the bright bracket loses the highlights, the dark one the shadows to noise and
too few levels. No single bracket holds the whole scene; the fusion should.

Scores are tone-agnostic: a fusion has its own tone curve, and Mertens' varies across the
image, while a bracket has its exposure. So each candidate is first mapped onto the source
by the best local affine tone map (a guided filter with the candidate as guide: per 17x17
px window, the least-squares gain and offset, averaged), then scored by PSNR. What that
cannot undo is detail lost to clipping, to noise or to too few levels, which is what HDR
fusion is for; a global curve alone would charge Mertens for its local tone changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from config.errors import CaptureError
from stitching.hdr import (
    MIN_AGREEMENT,
    align_brackets,
    fuse_brackets,
    mertens_fusion,
    reference_bracket,
    shift_image,
)
from stitching.kinds import bracket_set, exposure_steps

DATA = Path(__file__).parents[1] / "data"
EVS = (-2.0, 0.0, 2.0)
#: (dx, dy) each bracket is moved by, as a tripod camera nudged between exposures.
SHIFTS = ((3, -2), (0, 0), (-4, 1))


def render_brackets(
    source: np.ndarray,
    evs: Sequence[float] = EVS,
    shifts: Sequence[tuple[int, int]] = SHIFTS,
    *,
    wrap: bool = True,
    seed: int = 1,
) -> list[np.ndarray]:
    """Exposures of ``source`` (uint8 BGR) as a narrower-range camera takes them."""
    rng = np.random.default_rng(seed)
    radiance = ((source / 255.0) ** 2.2) ** 2.5  # the scene: a wider range than the file's
    out = []
    for ev, (dx, dy) in zip(evs, shifts, strict=True):
        sensor = radiance * (2.0**ev * 8.0) + rng.normal(0.0, 0.003, radiance.shape)
        encoded = np.round(np.clip(sensor, 0.0, 1.0) ** (1 / 2.2) * 255.0).astype(np.uint8)
        out.append(shift_image(encoded, dx, dy, wrap=wrap))
    return out


def tone_matched_psnr(
    candidate: np.ndarray, source: np.ndarray, mask: np.ndarray, *, radius: int = 8
) -> float:
    """PSNR (dB) against ``source`` over ``mask`` after the best local affine tone map."""
    x = candidate.astype(np.float64) / 255.0
    y = source.astype(np.float64) / 255.0
    window = (2 * radius + 1, 2 * radius + 1)

    def mean(a: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(a, -1, window, borderType=cv2.BORDER_REFLECT)

    mx, my = mean(x), mean(y)
    gain = (mean(x * y) - mx * my) / (mean(x * x) - mx * mx + 1e-4)
    mapped = mean(gain) * x + mean(my - gain * mx)
    err = ((mapped - y) ** 2)[mask].mean()
    return float(10 * np.log10(1.0 / err))


@pytest.fixture(scope="module")
def source() -> np.ndarray:
    image = cv2.imread(str(DATA / "pannellum_examplepano.jpg"), cv2.IMREAD_COLOR)
    assert image is not None
    return cv2.resize(image, (1024, 512), interpolation=cv2.INTER_AREA)


def _inner(shape: tuple[int, ...], margin: int = 8) -> np.ndarray:
    """Pixels away from the top and bottom rows, where shifted-in rows are repeated."""
    mask = np.zeros(shape[:2], bool)
    mask[margin:-margin] = True
    return mask


def test_alignment_recovers_the_shifts_between_exposures(source: np.ndarray) -> None:
    brackets = render_brackets(source)
    alignment = align_brackets(brackets, reference=reference_bracket(EVS))
    assert alignment.reference == 1
    assert alignment.shifts == tuple((-dx, -dy) for dx, dy in SHIFTS)
    assert alignment.lined_up() and min(alignment.agreement) > 0.9, alignment


def test_the_fusion_scores_higher_than_any_single_bracket(source: np.ndarray) -> None:
    brackets = render_brackets(source)
    fused = fuse_brackets(brackets, align_brackets(brackets, reference=1), wrap=True)
    assert fused.shape == source.shape and fused.dtype == np.uint8
    mask = _inner(source.shape)
    # Each bracket scored as it would be used alone: lined up with the source.
    alone = [
        tone_matched_psnr(shift_image(b, -dx, -dy, wrap=True), source, mask)
        for b, (dx, dy) in zip(brackets, SHIFTS, strict=True)
    ]
    score = tone_matched_psnr(fused, source, mask)
    assert score > max(alone) + 1.0, (score, alone)


def test_the_fusion_is_opencvs_mertens(source: np.ndarray) -> None:
    brackets = render_brackets(source, shifts=[(0, 0)] * 3)
    ours = mertens_fusion(brackets)
    # OpenCV weighs contrast by the luma of its input taken as RGB: hand it RGB, flip back.
    rgb = [np.ascontiguousarray(b[..., ::-1]) for b in brackets]
    theirs = cv2.createMergeMertens(1.0, 1.0, 1.0).process(rgb)[..., ::-1]
    assert ours.shape == theirs.shape and ours.dtype == np.float32
    difference = np.abs(ours - theirs)
    assert difference.mean() < 1e-4 and np.percentile(difference, 99.9) < 1e-3


def test_without_alignment_the_fusion_is_worse(source: np.ndarray) -> None:
    brackets = render_brackets(source)
    mask = _inner(source.shape)
    aligned = fuse_brackets(brackets, align_brackets(brackets, reference=1), wrap=True)
    unaligned = fuse_brackets(brackets, None, wrap=True)
    assert tone_matched_psnr(aligned, source, mask) > tone_matched_psnr(unaligned, source, mask)


def test_the_fused_equirect_has_no_seam_at_the_back(source: np.ndarray) -> None:
    brackets = render_brackets(source)
    fused = fuse_brackets(brackets, align_brackets(brackets, reference=1), wrap=True)
    grey = cv2.cvtColor(fused, cv2.COLOR_BGR2GRAY).astype(np.float64)
    ref = cv2.cvtColor(source, cv2.COLOR_BGR2GRAY).astype(np.float64)
    # Across the 180° meridian (last column to first) the step is what it is in the source
    # relative to the steps between neighbouring columns.
    seam = np.abs(grey[:, -1] - grey[:, 0]).mean() / np.abs(grey[:, 1] - grey[:, 0]).mean()
    truth = np.abs(ref[:, -1] - ref[:, 0]).mean() / np.abs(ref[:, 1] - ref[:, 0]).mean()
    assert seam < truth * 1.3 + 0.1, (seam, truth)


def test_dual_fisheye_brackets_line_up_and_fuse_inside_the_circles() -> None:
    frame = cv2.imread(str(DATA / "stitching" / "thetaS_raw_jacoblange.jpg"), cv2.IMREAD_COLOR)
    assert frame is not None
    brackets = render_brackets(frame, wrap=False)
    alignment = align_brackets(brackets, reference=1)
    assert alignment.shifts == tuple((-dx, -dy) for dx, dy in SHIFTS)
    fused = fuse_brackets(brackets, alignment, wrap=False)
    inside = (cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) > 20) & _inner(frame.shape)
    inside[:, :8] = inside[:, -8:] = False  # shifted-in columns are black
    alone = [
        tone_matched_psnr(shift_image(b, -dx, -dy, wrap=False), frame, inside)
        for b, (dx, dy) in zip(brackets, SHIFTS, strict=True)
    ]
    assert tone_matched_psnr(fused, frame, inside) > max(alone) + 1.0, alone


def test_different_views_do_not_line_up() -> None:
    # Neighbouring shots of a real tripod rotation (30° apart) are not brackets.
    names = ("img01.jpg", "img07.jpg", "img13.jpg")
    frames = [cv2.imread(str(DATA / "stitching" / "lunchroom12" / n)) for n in names]
    alignment = align_brackets(frames, reference=1)
    assert not alignment.lined_up(), alignment
    assert max(a for i, a in enumerate(alignment.agreement) if i != 1) < MIN_AGREEMENT


def test_shifting_wraps_round_an_equirect_and_fills_black_elsewhere() -> None:
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (40, 80, 3), dtype=np.uint8)
    moved = shift_image(image, 5, 0, wrap=True)
    assert np.array_equal(shift_image(moved, -5, 0, wrap=True), image)
    assert np.array_equal(moved[:, :5], image[:, -5:])
    down = shift_image(image, 0, 3, wrap=True)
    assert np.array_equal(down[:3], np.repeat(image[:1], 3, axis=0))  # pole row repeated
    flat = shift_image(image, -4, 2, wrap=False)
    assert not flat[:2].any() and not flat[:, -4:].any()
    assert np.array_equal(flat[2:, :-4], image[:-2, 4:])


def test_the_reference_is_the_middle_exposure() -> None:
    assert reference_bracket([0.0, -2.0, 2.0]) == 0  # a camera's usual 0, -, + order
    assert reference_bracket([2.0, 0.0, -2.0, 1.0]) == 1  # lower of the two middle ones
    assert reference_bracket([None, 1.0, 2.0]) == 1  # unknown: the middle file


def test_brackets_must_be_of_one_size() -> None:
    images = [np.zeros((20, 40, 3), np.uint8), np.zeros((20, 42, 3), np.uint8)]
    with pytest.raises(CaptureError, match="bracket 2 is 42x20 but bracket 1 is 40x20"):
        fuse_brackets(images, wrap=True)
    with pytest.raises(CaptureError, match="at least two brackets"):
        align_brackets(images[:1], reference=0)


def test_exif_exposure_times_and_biases_become_steps() -> None:
    assert exposure_steps([1 / 1000, 1 / 250, 1 / 60], [None, None, None]) == [-2.0, 0.0, 2.06]
    # Same shutter, bias varied (an ISO-bracketing camera): the bias is the step.
    assert exposure_steps([1 / 100] * 3, [-2.0, 0.0, 2.0]) == [-2.0, 0.0, 2.0]
    assert exposure_steps([1 / 100] * 3, [None] * 3) == [0.0, 0.0, 0.0]
    assert exposure_steps([None, 1 / 100], [None, None]) is None


def test_a_bracket_set_is_recognised_from_the_sidecar_or_the_exif() -> None:
    names = ["a.jpg", "b.jpg", "c.jpg"]
    same = [(1024, 512)] * 3
    mixed = [(1024, 512), (1024, 512), (1000, 500)]
    common = {"names": names, "declared_kind": None}
    assert bracket_set(same, None, declared_brackets=3, **common) == "sidecar"
    assert bracket_set(same, [-2.0, 0.0, 2.0], declared_brackets=None, **common) == "exif"
    # Images of different sizes are never brackets, whatever their exposures.
    assert bracket_set(mixed, [-2.0, 0.0, 2.0], declared_brackets=None, **common) is None
    assert bracket_set(same, [0.0, 0.1, 2.0], declared_brackets=None, **common) is None
    assert bracket_set(same, None, declared_brackets=None, **common) is None
    assert bracket_set(same, [-2.0, 0.0, 2.0], declared_brackets=1, **common) is None
    multishot = {"names": names, "declared_kind": "multishot"}
    assert bracket_set(same, [-2.0, 0.0, 2.0], declared_brackets=None, **multishot) is None
    with pytest.raises(CaptureError, match="c.jpg 1000x500"):
        bracket_set(mixed, None, declared_brackets=3, **common)
    with pytest.raises(CaptureError, match="says 2 brackets of one position, but the capture"):
        bracket_set(same, None, declared_brackets=2, **common)
