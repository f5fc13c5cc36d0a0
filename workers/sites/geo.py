"""Floor-plan geometry: WGS84 to local metres, and fits between plan pixels and metres.

Local metres are east/north coordinates on the **local tangent plane (ENU) at the centroid
of a floor's ground control points**, on the WGS84 ellipsoid with heights ignored: exact
geodetic -> ECEF -> ENU, not an equirectangular approximation, though over a campus the two
differ by millimetres. Plan pixels have x to the right and y DOWN, while north runs up, so
every model maps ``(east, north)`` metres to ``(x, y)`` pixels and the similarity model
includes that reflection (without it a fit is ~1000 px off; BRIEF.md, "Floor plans").

Models, fitted by least squares on control points (plan px <-> local metres):

- ``similarity``: scale, rotation (the plan's north offset), translation; 4 parameters.
- ``affine``: 6 parameters, absorbs a plan scanned with unequal axis scales or a shear.
- ``homography``: 8 parameters, only on request; on 6 points with 2 px noise it fits the
  points best (RMS 1.60 px) and predicts a left-out point worst (18.3 px): it over-fits.

Quality is the leave-one-out (LOO) error: each point's residual under a fit of the OTHER
points. It is what a position placed through the fit can expect; plain RMS flatters the
models with more parameters. Residuals are in plan pixels.

Angles: a plan direction is measured clockwise from plan-up; ``north_offset_deg`` is the
angle clockwise from plan-up to true north; compass bearings are clockwise from true north.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

from config.errors import ConfigError

FitModel = Literal["similarity", "affine", "homography"]

#: Parameters of each model; a fit needs half as many points, LOO one more.
MODEL_PARAMETERS: Final[dict[str, int]] = {"similarity": 4, "affine": 6, "homography": 8}

# WGS84 ellipsoid.
_A: Final = 6378137.0
_F: Final = 1 / 298.257223563
_E2: Final = _F * (2 - _F)


@dataclass(frozen=True, slots=True)
class LocalFrame:
    """An east-north tangent plane at ``(origin_lat, origin_lon)``, degrees."""

    origin_lat: float
    origin_lon: float

    @classmethod
    def around(cls, lat: Sequence[float], lon: Sequence[float]) -> LocalFrame:
        """The frame at the centroid of the given points (degrees)."""
        return cls(float(np.mean(lat)), float(np.mean(lon)))

    def to_local(
        self, lat: np.ndarray | Sequence[float], lon: np.ndarray | Sequence[float]
    ) -> np.ndarray:
        """Project WGS84 positions onto the frame.

        Parameters
        ----------
        lat, lon:
            Shape (N,) latitudes and longitudes in degrees.

        Returns
        -------
        numpy.ndarray
            Shape (N, 2) float64, ``(east, north)`` in metres from the origin.
        """
        xyz = _ecef(np.asarray(lat, float), np.asarray(lon, float))
        origin = _ecef(np.array([self.origin_lat]), np.array([self.origin_lon]))
        d = xyz - origin
        phi, lam = math.radians(self.origin_lat), math.radians(self.origin_lon)
        east = -math.sin(lam) * d[:, 0] + math.cos(lam) * d[:, 1]
        north = (
            -math.sin(phi) * math.cos(lam) * d[:, 0]
            - math.sin(phi) * math.sin(lam) * d[:, 1]
            + math.cos(phi) * d[:, 2]
        )
        return np.stack([east, north], axis=1)


def _ecef(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    phi, lam = np.radians(lat), np.radians(lon)
    n = _A / np.sqrt(1 - _E2 * np.sin(phi) ** 2)
    return np.stack(
        [n * np.cos(phi) * np.cos(lam), n * np.cos(phi) * np.sin(lam), n * (1 - _E2) * np.sin(phi)],
        axis=1,
    )


@dataclass(frozen=True, slots=True)
class PlanFit:
    """A fitted map from local metres to plan pixels, with its quality.

    ``matrix`` is 3x3 (homogeneous): ``[x, y, w] = matrix @ [east, north, 1]``. Residuals are
    ``fitted - measured`` plan pixels, shape (N, 2); ``loo_residuals`` are each point's
    residual under the fit of the other points.
    """

    model: FitModel
    matrix: np.ndarray
    names: tuple[str, ...]
    residuals: np.ndarray
    loo_residuals: np.ndarray

    @property
    def errors_px(self) -> np.ndarray:
        """Per-point residual length, px, shape (N,)."""
        return np.hypot(self.residuals[:, 0], self.residuals[:, 1])

    @property
    def loo_errors_px(self) -> np.ndarray:
        """Per-point leave-one-out residual length, px, shape (N,)."""
        return np.hypot(self.loo_residuals[:, 0], self.loo_residuals[:, 1])

    @property
    def rms_px(self) -> float:
        return float(np.sqrt(np.mean(self.errors_px**2)))

    @property
    def loo_rms_px(self) -> float:
        return float(np.sqrt(np.mean(self.loo_errors_px**2)))

    @property
    def worst(self) -> str:
        """Name of the point with the largest leave-one-out error."""
        return self.names[int(np.argmax(self.loo_errors_px))]

    @property
    def scale_px_per_m(self) -> float:
        """Plan pixels per metre at the frame origin (geometric mean of the axes)."""
        return math.sqrt(abs(float(np.linalg.det(self._jacobian()))))

    @property
    def north_offset_deg(self) -> float:
        """Angle clockwise from plan-up to true north, at the frame origin, in [0, 360)."""
        dx, dy = self._jacobian()[:, 1]
        return math.degrees(math.atan2(dx, -dy)) % 360.0

    def _jacobian(self) -> np.ndarray:
        h = self.matrix / self.matrix[2, 2]
        return h[:2, :2] - np.outer(h[:2, 2], h[2, :2])

    def to_plan(self, local: np.ndarray) -> np.ndarray:
        """Local metres (N, 2) ``(east, north)`` -> plan pixels (N, 2) ``(x, y)``."""
        return apply_matrix(self.matrix, local)

    def to_local(self, plan: np.ndarray) -> np.ndarray:
        """Plan pixels (N, 2) ``(x, y)`` -> local metres (N, 2) ``(east, north)``."""
        return apply_matrix(np.linalg.inv(self.matrix), plan)


def fit_plan(
    plan_px: np.ndarray,
    local_m: np.ndarray,
    model: FitModel = "similarity",
    names: Sequence[str] | None = None,
) -> PlanFit:
    """Fit local metres -> plan pixels and measure it point by point.

    Parameters
    ----------
    plan_px:
        Shape (N, 2) control point positions on the plan, pixels ``(x right, y down)``.
    local_m:
        Shape (N, 2) the same points in local metres ``(east, north)``.
    model:
        ``"similarity"``, ``"affine"`` or ``"homography"``.
    names:
        N point names for messages; default ``#1``, ``#2``, ...

    Returns
    -------
    PlanFit
        The fit on all points, with residuals and leave-one-out residuals in pixels.

    Raises
    ------
    ConfigError
        Too few points for a leave-one-out check of this model, or the points are
        degenerate (all on one spot or, for affine/homography, on one line).
    """
    plan = np.asarray(plan_px, float).reshape(-1, 2)
    local = np.asarray(local_m, float).reshape(-1, 2)
    if plan.shape != local.shape:
        raise ValueError(f"plan_px {plan.shape} and local_m {local.shape} differ in shape")
    count = len(plan)
    label = tuple(names) if names is not None else tuple(f"#{i + 1}" for i in range(count))
    needed = MODEL_PARAMETERS[model] // 2 + 1
    if count < needed:
        raise ConfigError(
            f"a {model} fit needs at least {needed} control points to be checked "
            f"(leave-one-out); got {count}"
        )
    matrix = _solve(model, local, plan)
    residuals = apply_matrix(matrix, local) - plan
    loo = np.empty_like(residuals)
    for i in range(count):
        keep = np.arange(count) != i
        loo[i] = apply_matrix(_solve(model, local[keep], plan[keep]), local[i : i + 1])[0] - plan[i]
    return PlanFit(model, matrix, label, residuals, loo)


def accept_fit(fit: PlanFit, max_loo_px: float) -> None:
    """Refuse a fit whose leave-one-out RMS is above ``max_loo_px`` pixels.

    Raises
    ------
    ConfigError
        Naming the worst point and its leave-one-out error.
    """
    if fit.loo_rms_px > max_loo_px:
        worst = int(np.argmax(fit.loo_errors_px))
        raise ConfigError(
            f"{fit.model} fit refused: leave-one-out RMS {fit.loo_rms_px:.1f} px is above "
            f"{max_loo_px:.1f} px; worst point {fit.names[worst]} is off by "
            f"{fit.loo_errors_px[worst]:.1f} px when predicted from the others — check its "
            "plan position and coordinates, or remove it"
        )


def bearing_deg(dx_px: float, dy_px: float, north_offset_deg: float) -> float:
    """Compass bearing, degrees clockwise from true north in [0, 360), of a plan direction.

    ``(dx_px, dy_px)`` is a step on the plan (x right, y down); the plan's north lies
    ``north_offset_deg`` clockwise from plan-up.
    """
    plan_angle = math.degrees(math.atan2(dx_px, -dy_px))
    return (plan_angle - north_offset_deg) % 360.0


def wrap_deg(angle: float) -> float:
    """An angle in degrees wrapped to [-180, 180)."""
    return (angle + 180.0) % 360.0 - 180.0


def apply_matrix(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (N, 2) through a 3x3 homogeneous matrix -> (N, 2) float64."""
    pts = np.asarray(points, float).reshape(-1, 2)
    h = np.column_stack([pts, np.ones(len(pts))]) @ matrix.T
    return h[:, :2] / h[:, 2:3]


def _solve(model: FitModel, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    if model == "similarity":
        return _similarity(src, dst)
    if model == "affine":
        return _affine(src, dst)
    return _homography(src, dst)


def _lstsq(a: np.ndarray, b: np.ndarray, model: str) -> np.ndarray:
    solution, _, rank, _ = np.linalg.lstsq(a, b, rcond=None)
    if rank < a.shape[1]:
        raise ConfigError(
            f"control points are degenerate for a {model} fit (on one spot or one line); "
            "spread them over the plan"
        )
    return solution


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    # x = a*e + b*n + tx,  y = b*e - a*n + ty: a rotation-scale of (e, -n), i.e. with the
    # north-up -> y-down reflection built in; a = s*cos(north), b = s*sin(north).
    e, n = src[:, 0], src[:, 1]
    one, zero = np.ones_like(e), np.zeros_like(e)
    a = np.vstack([np.column_stack([e, n, one, zero]), np.column_stack([-n, e, zero, one])])
    b = np.concatenate([dst[:, 0], dst[:, 1]])
    pa, pb, tx, ty = _lstsq(a, b, "similarity")
    return np.array([[pa, pb, tx], [pb, -pa, ty], [0.0, 0.0, 1.0]])


def _affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    a = np.column_stack([src, np.ones(len(src))])
    p = _lstsq(a, dst, "affine")
    return np.vstack([p.T, [0.0, 0.0, 1.0]])


def _normaliser(points: np.ndarray) -> np.ndarray:
    # Hartley normalisation: centroid at 0, mean distance sqrt(2); without it the DLT is
    # badly conditioned for pixel-sized coordinates.
    centre = points.mean(axis=0)
    spread = np.mean(np.hypot(*(points - centre).T))
    s = math.sqrt(2) / spread if spread > 0 else 1.0
    return np.array([[s, 0, -s * centre[0]], [0, s, -s * centre[1]], [0, 0, 1.0]])


def _homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    ts, td = _normaliser(src), _normaliser(dst)
    s, d = apply_matrix(ts, src), apply_matrix(td, dst)
    rows = []
    for (x, y), (u, v) in zip(s, d, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y, -u])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y, -v])
    _, sing, vt = np.linalg.svd(np.asarray(rows))
    if len(sing) >= 8 and sing[7] < 1e-12 * sing[0]:
        raise ConfigError(
            "control points are degenerate for a homography (three on one line); "
            "spread them over the plan"
        )
    h = np.linalg.inv(td) @ vt[-1].reshape(3, 3) @ ts
    return h / h[2, 2]
