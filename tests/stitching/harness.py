"""Ground truth for the stitchers: render raw captures from a real equirect, score the stitch.

(a) :func:`render_dual_fisheye`: two fisheye circles side by side, seen through a known
profile (its projection honoured), each lens knocked off by a random rotation of up to
``misalign_deg``, the two exposures up to ``max_ev`` apart (linear light, the brighter
lens at the scene's).
(b) :func:`render_views`: perspective views on a rotating head, random exposure per view,
JPEG q92. :func:`score` removes the global rotation and reports latitude-weighted
PSNR/SSIM, coverage and residual tile shift.
(c) :func:`render_unknown_dual_fisheye`: a frame through a lens model the stitcher is not
told (projection, field of view, circles, inter-lens rotation, vignetting, exposure, the
camera rolled), scored by :func:`score_unknown` with only the global yaw removed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from stitching.equirect import rotate_equirect
from stitching.fisheye import Geometry, LensGeometry, geometry_for
from stitching.flow import tile_shifts
from stitching.frames import Frame
from stitching.lens import Lens, LensProfile, Projection, projection_radius
from stitching.multishot.compose import compose
from stitching.multishot.rig import rig_rotation
from stitching.multishot.stitch import SEAM_MEGAPIX
from stitching.sphere import equirect_coords, fixed_point_maps, pose_rotation, remap_wrapped
from tests.stitching.metrics import align_to, coverage, psnr, ssim

GAMMA = 2.2


def test_profile(width: int, fov_deg: float = 195.0) -> LensProfile:
    """A known profile for a ``width`` x ``width // 2`` frame: equidistant circles."""
    h = width // 2
    r = 0.47 * h
    return LensProfile(
        name=f"harness {fov_deg:g}",
        lenses=(
            Lens(fov_deg=fov_deg, centre=(width * 0.75, h / 2), radius=r),
            Lens(fov_deg=fov_deg, centre=(width * 0.25, h / 2), radius=r, yaw_deg=180.0),
        ),
        frame_size=(width, h),
    )


@dataclass(frozen=True, slots=True)
class DualFisheyeCase:
    frame: np.ndarray
    profile: LensProfile
    misalign: tuple[np.ndarray, np.ndarray]  # rotation vectors (rad) applied to each lens
    ev: tuple[float, float]


def render_dual_fisheye(
    pano: np.ndarray,
    width: int,
    rng: np.random.Generator,
    *,
    misalign_deg: float = 1.0,
    max_ev: float = 0.5,
    profile: LensProfile | None = None,
) -> DualFisheyeCase:
    """Render a dual-fisheye frame of ``width`` x ``width // 2`` from an equirect.

    Each lens is knocked off its profile pose by a random rotation of up to
    ``misalign_deg`` and its exposure moved; the two lenses' EVs differ by up to
    ``max_ev``. Two choices keep the frame faithful to what a real camera records:

    - Sampling: the pano, shrunk to about the fisheye's angular resolution by
      :func:`_prefilter`, is taken as the band-limited scene and reconstructed with
      Lanczos (a windowed sinc) at each sensor pixel's centre. A bilinear render blurs
      the scene by a different amount at every sub-pixel phase, which no sensor does,
      and the stitcher's own resampling comes on top: at 4096 px that cost the perfect
      reassembly 3.4 dB (31.2 against 34.6).
    - Exposure: the brighter lens is at the scene's exposure (EV 0) and the other one
      darker by the difference. The pano's white is the brightest value the scene holds;
      pushing a lens above it would clip highlights in the capture, a loss no stitcher
      can undo, and the score would measure the harness's clipping instead of the stitch.
    """
    profile = profile or test_profile(width)
    h = width // 2
    geometry = geometry_for(profile, width, h)
    src = _prefilter(pano, geometry)
    frame = np.zeros((h, width, 3), dtype=np.uint8)
    misalign, evs, samples = [], [], []
    for geo in geometry.lenses:
        axis = rng.normal(size=3)
        omega = axis / np.linalg.norm(axis) * math.radians(rng.uniform(0, misalign_deg))
        rot, _ = cv2.Rodrigues(omega.reshape(3, 1))
        misalign.append(omega)
        evs.append(float(rng.uniform(-max_ev / 2, max_ev / 2)))
        samples.append(_fisheye_view(src, geo, geo.matrix() @ rot, (width, h)))
    top = max(evs)
    evs = [ev - top for ev in evs]
    for (rows, cols, inside, sample), ev in zip(samples, evs, strict=True):
        frame[rows, cols][inside] = _expose(sample, ev)[inside]
    return DualFisheyeCase(frame, profile, (misalign[0], misalign[1]), (evs[0], evs[1]))


def _fisheye_view(
    src: np.ndarray, geo: LensGeometry, world_to_lens: np.ndarray, size: tuple[int, int]
) -> tuple[slice, slice, np.ndarray, np.ndarray]:
    """One lens's circle sampled from an equirect through its projection, over its bounding box.

    Returns (rows, cols, inside: bool (h, w), sample: uint8 (h, w, 3)) of the box.
    """
    width, height = size
    cx, cy, r = geo.centre[0], geo.centre[1], geo.radius
    rows = slice(max(0, int(cy - r) - 1), min(height, int(cy + r) + 2))
    cols = slice(max(0, int(cx - r) - 1), min(width, int(cx + r) + 2))
    dy = (np.arange(rows.start, rows.stop, dtype=np.float64) + 0.5 - cy)[:, None]
    dx = (np.arange(cols.start, cols.stop, dtype=np.float64) + 0.5 - cx)[None, :]
    rad = np.hypot(dx, dy)
    f = r / float(projection_radius(geo.lens.projection, geo.half_fov()))
    theta = _inverse_projection(geo.lens.projection, rad / f)
    k = np.sin(theta) / np.maximum(rad, 1e-9)
    lx, ly, lz = k * dx, -k * dy, np.cos(theta)
    m = world_to_lens  # world = m.T @ lens direction
    world = [(m[0, i] * lx + m[1, i] * ly + m[2, i] * lz).astype(np.float32) for i in range(3)]
    col, row = equirect_coords(*world, src.shape[1], src.shape[0])
    lanczos = cv2.INTER_LANCZOS4
    sample = remap_wrapped(src, fixed_point_maps(col, row, src.shape[0], lanczos), lanczos)
    return rows, cols, rad <= r, sample


def _inverse_projection(projection: str, g: np.ndarray) -> np.ndarray:
    """theta (radians) of an image radius per unit focal length (Hugin's a/b/c not honoured)."""
    if projection == "equidistant":
        return g
    if projection == "equisolid":
        return 2.0 * np.arcsin(np.clip(g / 2.0, -1.0, 1.0))
    if projection == "stereographic":
        return 2.0 * np.arctan(g / 2.0)
    if projection == "orthographic":
        return np.arcsin(np.clip(g, -1.0, 1.0))
    raise ValueError(f"unknown projection {projection!r}")


def exact_geometry(case: DualFisheyeCase) -> Geometry:
    """The geometry a case was rendered with, in the frame a stitch keeps (lens 0's).

    The stitcher holds lens 0 at its profile pose, so lens 0's misalignment turns the whole
    output (which :func:`score` removes); lens 1 goes where it truly is relative to lens 0.
    Rendering a case through this geometry with :func:`exact_gains` is a perfect
    reassembly through the same render path: the ceiling a stitch can reach.
    """
    h, w = case.frame.shape[:2]
    geometry = geometry_for(case.profile, w, h)
    r0, r1 = (cv2.Rodrigues(omega.reshape(3, 1))[0] for omega in case.misalign)
    g0, g1 = geometry.lenses
    m1 = g1.matrix() @ r1 @ r0.T
    lens1 = replace(g1, rotation=tuple(float(v) for v in m1.ravel()))
    return Geometry(lenses=(g0, lens1), size=geometry.size)


def exact_gains(case: DualFisheyeCase) -> tuple[np.ndarray, np.ndarray]:
    """Linear-light gains (B, G, R) that bring a case's lenses together exactly, each half
    way in log terms as :func:`stitching.fisheye.exposure_gains` does.

    Undoing each lens's EV instead (the brighter lens untouched) scores up to 0.6 dB higher
    at 512 px: the stitch then sits at the scene's exposure, where the single gain that
    :func:`score` matches is not thrown off by the pano's clipped highlights.
    """
    ratio = 2.0 ** (case.ev[0] - case.ev[1])  # lens 0 over lens 1, linear light
    return np.full(3, ratio**-0.5), np.full(3, ratio**0.5)


def render_views(
    pano: np.ndarray,
    *,
    rows: list[tuple[float, int]],
    hfov_deg: float,
    size: tuple[int, int],
    rng: np.random.Generator,
    max_ev: float = 0.5,
    quality: int = 92,
) -> tuple[list[Frame], list[tuple[float, float]]]:
    """Perspective views from a rotating head: for each (pitch_deg, count) row, ``count``
    views evenly spaced in yaw starting at 0. Returns the frames and their (yaw, pitch)."""
    w, h = size
    f = (w / 2) / math.tan(math.radians(hfov_deg) / 2)
    frames, poses = [], []
    for pitch, count in rows:
        for k in range(count):
            yaw = 360.0 * k / count
            yaw = yaw - 360.0 if yaw > 180 else yaw
            m = pose_rotation(pitch, 0.0, yaw)  # world -> camera
            ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
            cam = np.stack([(xs + 0.5 - w / 2) / f, -(ys + 0.5 - h / 2) / f, np.ones_like(xs)], -1)
            world = cam @ m
            col, row = equirect_coords(
                *(world[..., i].astype(np.float32) for i in range(3)), pano.shape[1], pano.shape[0]
            )
            view = remap_wrapped(pano, fixed_point_maps(col, row, pano.shape[0]))
            view = _expose(view, float(rng.uniform(-max_ev, max_ev)))
            ok, buf = cv2.imencode(".jpg", view, [cv2.IMWRITE_JPEG_QUALITY, quality])
            assert ok
            name = f"r{int(pitch):+d}_y{int(round(yaw)):+04d}.jpg"
            frames.append(Frame(name=name, image=cv2.imdecode(buf, cv2.IMREAD_COLOR)))
            poses.append((yaw, pitch))
    return frames, poses


def footprint(
    poses: list[tuple[float, float]], hfov_deg: float, size: tuple[int, int], width: int
) -> np.ndarray:
    """bool (width // 2, width): equirect pixels some view sees."""
    w, h = size
    f = (w / 2) / math.tan(math.radians(hfov_deg) / 2)
    out_h = width // 2
    yaw = ((np.arange(width) + 0.5) / width - 0.5) * 2 * math.pi
    pitch = (0.5 - (np.arange(out_h) + 0.5) / out_h) * math.pi
    yy, pp = np.meshgrid(yaw, pitch)
    d = np.stack([np.cos(pp) * np.sin(yy), np.sin(pp), np.cos(pp) * np.cos(yy)], -1)
    seen = np.zeros((out_h, width), dtype=bool)
    for yaw_deg, pitch_deg in poses:
        cam = d @ pose_rotation(pitch_deg, 0.0, yaw_deg).T
        z = cam[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = cam[..., 0] / z * f + w / 2
            v = -cam[..., 1] / z * f + h / 2
        seen |= (z > 0) & (u >= 1) & (u <= w - 1) & (v >= 1) & (v <= h - 1)
    return seen


@dataclass(frozen=True, slots=True)
class Score:
    psnr_db: float
    ssim: float
    coverage: float
    tile_shift_px: float


def score(
    result: np.ndarray, pano: np.ndarray, *, width: int, within: np.ndarray | None = None
) -> Score:
    """Score a stitched equirect against the truth at ``width`` (both INTER_AREA-resized),
    after removing the global rotation; ``within`` limits it to a footprint."""
    size = (width, width // 2)
    res = cv2.resize(result, size, interpolation=cv2.INTER_AREA)
    truth = cv2.resize(pano, size, interpolation=cv2.INTER_AREA)
    region = np.ones(size[::-1], dtype=bool) if within is None else within
    _, rotation = align_to(res, truth, face_size=max(128, width // 4), iterations=6)
    # The global rotation is undone on the truth, not the stitch: the truth is sharper than
    # the scoring size, so resampling it costs nothing, where a sub-pixel resample of the
    # stitch at its own resolution would blur texture and cost dB the stitch did not lose.
    aligned = res
    truth = cv2.resize(
        rotate_equirect(pano, rotation.T, interpolation=cv2.INTER_LANCZOS4),
        size,
        interpolation=cv2.INTER_AREA,
    )
    if within is not None:
        region = rotate_equirect(
            within.astype(np.uint8), rotation.T, interpolation=cv2.INTER_NEAREST
        ).astype(bool)
    covered = aligned.max(axis=2) > 0
    # Pixels next to the edge of the covered area mix in black when shrunk: not scored.
    mask = cv2.erode((covered & region).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    aligned = _match_exposure(aligned, truth, mask)
    shifts = tile_shifts(truth, aligned, 32, mask).trusted()
    return Score(
        psnr_db=psnr(aligned, truth, mask),
        ssim=ssim(aligned, truth, mask),
        coverage=coverage(covered, within=region),
        tile_shift_px=shifts.median_shift(),
    )


def _match_exposure(img: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Remove one global linear-light gain: a stitch's absolute exposure is arbitrary."""
    a = (img[mask].astype(np.float64) / 255.0) ** GAMMA
    b = (truth[mask].astype(np.float64) / 255.0) ** GAMMA
    ev = math.log2(max(float(b.sum()), 1e-9) / max(float(a.sum()), 1e-9))
    return _expose(img, ev)


def _expose(img: np.ndarray, ev: float) -> np.ndarray:
    lin = (img.astype(np.float32) / 255.0) ** GAMMA * (2.0**ev)
    return (np.clip(lin, 0, 1) ** (1 / GAMMA) * 255.0 + 0.5).astype(np.uint8)


def _prefilter(pano: np.ndarray, geometry: Geometry) -> np.ndarray:
    """The pano shrunk to about the fisheye's angular resolution, against aliasing."""
    g = geometry.lenses[0]
    px_per_rad = g.radius / g.half_fov()
    width = int(min(pano.shape[1], 2 * math.pi * px_per_rad * 1.5)) // 2 * 2
    return cv2.resize(pano, (width, width // 2), interpolation=cv2.INTER_AREA)


def multishot_ceiling(
    frames: list[Frame],
    poses: list[tuple[float, float]],
    *,
    hfov_deg: float,
    size: tuple[int, int],
    width: int,
) -> np.ndarray:
    """The views of :func:`render_views` put back with their TRUE focal length and poses,
    through the stitcher's own composer: what a perfect pose estimate would score."""
    w, h = size
    f = (w / 2) / math.tan(math.radians(hfov_deg) / 2)
    k = np.array([[f, 0.0, w / 2], [0.0, f, h / 2], [0.0, 0.0, 1.0]])
    rotations = [rig_rotation(yaw, pitch) for yaw, pitch in poses]
    seam_scale = min(1.0, math.sqrt(SEAM_MEGAPIX * 1e6 / (w * h)))
    out, _ = compose(
        [fr.image for fr in frames], [k] * len(frames), rotations, width, -math.pi, seam_scale
    )
    return out


# ---------------------------------------------------------------------------------------
# Frames from a camera the stitcher is not told about (issue 17): random projection, field
# of view, circles, inter-lens rotation, vignetting and exposure, and the camera rolled.


@dataclass(frozen=True, slots=True)
class UnknownLensCase:
    """A dual-fisheye frame rendered through a lens model the stitcher is not told.

    ``profile`` is the truth: both lenses' projection and field of view, their circles,
    lens 1's true pose (lens 0 is exact, so a stitch's frame is the camera's own) and the
    vignetting as Hugin's vb/vc (linear light). ``scene`` is what the camera saw: ``pano``
    turned by the camera's roll; ``level`` levels it (``rotate_equirect(scene, level)`` is
    ``pano``), as the horizon estimate should.
    """

    frame: np.ndarray
    profile: LensProfile
    pano: np.ndarray
    scene: np.ndarray
    level: np.ndarray  # float64 (3, 3), as rotate_equirect takes it
    roll_deg: float
    rotation_deg: float  # lens 1's pose off exactly back to back
    rim_brightness: tuple[float, float]  # linear-light vignetting at each circle's rim
    ev: tuple[float, float]


def render_unknown_dual_fisheye(
    pano: np.ndarray,
    width: int,
    rng: np.random.Generator,
    *,
    roll_deg: float = 0.0,
    fov_deg: tuple[float, float] = (190.0, 210.0),
    projections: tuple[Projection, ...] = ("equidistant", "equisolid"),
    centre_off: float = 0.02,
    max_rotation_deg: float = 3.0,
    rim_brightness: tuple[float, float] = (0.6, 0.85),
    max_ev: float = 0.5,
    rim_spread: float | None = None,
) -> UnknownLensCase:
    """Render a ``width`` x ``width // 2`` dual-fisheye frame through a random lens model.

    Drawn per frame: one projection of ``projections`` and one field of view in ``fov_deg``
    for both lenses; each circle's radius 0.46-0.49 of the height, its centre off the
    half-frame's centre by up to ``centre_off`` of the radius; lens 1 turned off back to
    back by up to ``max_rotation_deg`` about a random axis; each lens's rim brightness in
    ``rim_brightness`` (Hugin's polynomial ``1 + vb R^2 + vc R^4``, linear light) — or,
    with ``rim_spread``, one rim brightness for the camera (lens 0's draw; two lenses of
    one model share their optics) and lens 1's within ``rim_spread`` of it; the
    lenses' exposures up to ``max_ev`` apart (the brighter at the scene's). The scene is
    turned by the camera's ``roll_deg`` (GPano sign) before rendering, so the truth is
    known: ``case.level`` levels the stitch.
    """
    h = width // 2
    projection = projections[int(rng.integers(len(projections)))]
    fov = float(rng.uniform(*fov_deg))
    norm = math.hypot(width, h) / 2.0  # Hugin's vignetting radius
    axis = rng.normal(size=3)
    angle = float(rng.uniform(0.0, max_rotation_deg))
    turn = cv2.Rodrigues((axis / np.linalg.norm(axis) * math.radians(angle)).reshape(3, 1))[0]
    pitch1, roll1, yaw1 = pose_angles(pose_rotation(0.0, 0.0, 180.0) @ turn)
    lenses, rims = [], []
    for cx, pose in ((0.75, (0.0, 0.0, 0.0)), (0.25, (pitch1, roll1, yaw1))):
        r = float(rng.uniform(0.46, 0.49)) * h
        off = float(rng.uniform(0.0, centre_off)) * r
        phi = float(rng.uniform(0.0, 2.0 * math.pi))
        centre = (cx * width + off * math.cos(phi), h / 2.0 + off * math.sin(phi))
        rim = float(rng.uniform(*rim_brightness))
        if rim_spread is not None and rims:  # the same draw, mapped to +-spread of lens 0's
            lo, hi = rim_brightness
            share = (rim - lo) / (hi - lo) if hi > lo else 0.5
            rim = min(1.0, rims[0] + (2.0 * share - 1.0) * rim_spread)
        rr = (r / norm) ** 2
        lenses.append(
            Lens(
                fov_deg=fov,
                projection=projection,
                centre=centre,
                radius=r,
                pitch_deg=pose[0],
                roll_deg=pose[1],
                yaw_deg=pose[2],
                vb=(rim - 1.0) * 0.6 / rr,
                vc=(rim - 1.0) * 0.4 / rr**2,
            )  # fmt: skip
        )
        rims.append(rim)
    profile = LensProfile(
        name=f"truth {projection} {fov:.1f}", lenses=(lenses[0], lenses[1]), frame_size=(width, h)
    )
    diff = float(rng.uniform(-max_ev, max_ev))
    evs = (min(0.0, -diff), min(0.0, diff))
    level = pose_rotation(0.0, roll_deg)
    scene = (
        pano if roll_deg == 0 else rotate_equirect(pano, level.T, interpolation=cv2.INTER_LANCZOS4)
    )
    geometry = geometry_for(profile, width, h)
    src = _prefilter(scene, geometry)
    frame = np.zeros((h, width, 3), dtype=np.uint8)
    for geo, ev in zip(geometry.lenses, evs, strict=True):
        rows, cols, inside, sample = _fisheye_view(src, geo, geo.matrix(), (width, h))
        dy = (np.arange(rows.start, rows.stop) + 0.5 - geo.centre[1])[:, None]
        dx = (np.arange(cols.start, cols.stop) + 0.5 - geo.centre[0])[None, :]
        r2 = (dx * dx + dy * dy) / geo.vignetting_norm**2
        fall = 1.0 + r2 * (geo.lens.vb + r2 * (geo.lens.vc + r2 * geo.lens.vd))
        lin = (sample.astype(np.float32) / 255.0) ** GAMMA * (fall * 2.0**ev)[..., None]
        out = (np.clip(lin, 0, 1) ** (1 / GAMMA) * 255.0 + 0.5).astype(np.uint8)
        frame[rows, cols][inside] = out[inside]
    return UnknownLensCase(
        frame=frame, profile=profile, pano=pano, scene=scene, level=level,
        roll_deg=roll_deg, rotation_deg=angle, rim_brightness=(rims[0], rims[1]), ev=evs,
    )  # fmt: skip


def pose_angles(world_to_lens: np.ndarray) -> tuple[float, float, float]:
    """(pitch, roll, yaw) degrees that :func:`pose_rotation` turns into ``world_to_lens``."""
    o = world_to_lens.T
    pitch = math.asin(max(-1.0, min(1.0, float(o[1, 2]))))
    yaw = math.atan2(float(o[0, 2]), float(o[2, 2]))
    rest = pose_rotation(math.degrees(pitch), 0.0, math.degrees(yaw)) @ o
    return math.degrees(pitch), math.degrees(math.atan2(rest[0, 1], rest[0, 0])), math.degrees(yaw)


@dataclass(frozen=True, slots=True)
class UnknownLensScore:
    """How a stitch of an :class:`UnknownLensCase` compares with the truth.

    ``psnr_db`` is the published frame (the stitch turned by ``upright``) against the
    upright pano with only the global yaw removed; ``psnr_aligned_db`` the stitch against
    the scene with the whole rotation removed (the stitch alone, levelling aside);
    ``tilt_deg`` the published frame's up off the truth's. ``step`` is the largest
    brightness step across either seam (linear light, fraction, 2-8 deg either side),
    ``dip`` how much darker the seam (within 2 deg) comes out than 15-30 deg inside the
    lenses, both relative to the truth.
    """

    psnr_db: float
    psnr_aligned_db: float
    tilt_deg: float
    step: float
    dip: float


def score_unknown(
    result: np.ndarray,
    case: UnknownLensCase,
    *,
    width: int = 512,
    upright: np.ndarray | None = None,
) -> UnknownLensScore:
    """Score a stitch of ``case`` (in the camera's frame, as the stitcher returns it);
    ``upright`` is the levelling rotation applied to publish it (rotate_equirect's)."""
    size = (width, width // 2)
    res = cv2.resize(result, size, interpolation=cv2.INTER_AREA)
    scene = cv2.resize(case.scene, size, interpolation=cv2.INTER_AREA)
    _, total = align_to(res, scene, face_size=max(128, width // 4), iterations=6)
    # scene(d) = stitch(total d); pano(d) = scene(level d); published(d) = stitch(up d).
    up = np.eye(3) if upright is None else np.asarray(upright, dtype=np.float64)
    m = case.level.T @ total.T @ up  # published direction -> pano direction
    tilt = math.degrees(math.acos(max(-1.0, min(1.0, float(m[1, 1])))))
    yaw = math.degrees(math.atan2(float(m[0, 2]), float(m[2, 2])))
    truth = cv2.resize(
        rotate_equirect(
            case.pano, pose_rotation(0.0, 0.0, yaw).T, interpolation=cv2.INTER_LANCZOS4
        ),
        size,
        interpolation=cv2.INTER_AREA,
    )
    published = res if upright is None else rotate_equirect(res, up)
    mask = cv2.erode((published.max(axis=2) > 0).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    yaw_psnr = psnr(_match_exposure(published, truth, mask), truth, mask)
    step, dip = _seam_brightness(result, case.scene, total)
    return UnknownLensScore(
        psnr_db=yaw_psnr,
        psnr_aligned_db=score(result, case.scene, width=width).psnr_db,
        tilt_deg=tilt,
        step=step,
        dip=dip,
    )


def _seam_brightness(
    result: np.ndarray, scene: np.ndarray, total: np.ndarray
) -> tuple[float, float]:
    """(step, dip) of :class:`UnknownLensScore`, measured at 1024 px in the stitch's frame."""
    size = (1024, 512)
    res = _LINEAR[cv2.resize(result, size, interpolation=cv2.INTER_AREA)].sum(axis=2)
    truth = rotate_equirect(scene, total.T, interpolation=cv2.INTER_LANCZOS4)
    ref = _LINEAR[cv2.resize(truth, size, interpolation=cv2.INTER_AREA)].sum(axis=2)
    rows = slice(size[1] // 6, size[1] - size[1] // 6)  # leave the poles out
    yaw = ((np.arange(size[0]) + 0.5) / size[0] - 0.5) * 360.0

    def ratio(lo: float, hi: float, seam: float) -> float:
        off = (yaw - seam) * math.copysign(1.0, seam)  # positive: towards lens 1 (the back)
        cols = (off >= lo) & (off < hi)
        return float(res[rows][:, cols].sum() / max(float(ref[rows][:, cols].sum()), 1e-9))

    steps, dips = [], []
    for seam in (90.0, -90.0):
        steps.append(abs(ratio(-8.0, -2.0, seam) / ratio(2.0, 8.0, seam) - 1.0))
        inside = (ratio(-30.0, -15.0, seam) + ratio(15.0, 30.0, seam)) / 2.0
        dips.append(1.0 - ratio(-2.0, 2.0, seam) / inside)
    return max(steps), max(dips)


_LINEAR = ((np.arange(256) / 255.0) ** GAMMA).astype(np.float32)
