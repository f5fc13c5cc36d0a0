"""Plan pixels to WGS84 through a floor's control-point fit (the inverse of placement's way).

A fit maps local metres (east, north on the tangent plane at ``origin_lat/lon``,
:class:`workers.sites.geo.LocalFrame`) to plan pixels; here the matrix is inverted and the
local metres are turned back into latitude/longitude exactly: ENU -> ECEF -> geodetic on the
WGS84 ellipsoid (Bowring's iteration, converged to well under a millimetre).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from workers.contract.site import FitRecord
from workers.sites.geo import apply_matrix

_A: Final = 6378137.0
_F: Final = 1 / 298.257223563
_E2: Final = _F * (2 - _F)


def local_to_wgs84(origin_lat: float, origin_lon: float, east_north: np.ndarray) -> np.ndarray:
    """Local metres (N, 2) ``(east, north)`` -> (N, 2) ``(lon, lat)`` degrees (GeoJSON order)."""
    en = np.asarray(east_north, float).reshape(-1, 2)
    phi, lam = math.radians(origin_lat), math.radians(origin_lon)
    n0 = _A / math.sqrt(1 - _E2 * math.sin(phi) ** 2)
    origin = np.array(
        [
            n0 * math.cos(phi) * math.cos(lam),
            n0 * math.cos(phi) * math.sin(lam),
            n0 * (1 - _E2) * math.sin(phi),
        ]
    )
    east = np.array([-math.sin(lam), math.cos(lam), 0.0])
    north = np.array(
        [-math.sin(phi) * math.cos(lam), -math.sin(phi) * math.sin(lam), math.cos(phi)]
    )
    xyz = origin[None, :] + en[:, 0:1] * east[None, :] + en[:, 1:2] * north[None, :]
    x, y, z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    lon = np.arctan2(y, x)
    p = np.hypot(x, y)
    lat = np.arctan2(z, p * (1 - _E2))
    for _ in range(5):
        n = _A / np.sqrt(1 - _E2 * np.sin(lat) ** 2)
        height = p / np.cos(lat) - n
        lat = np.arctan2(z, p * (1 - _E2 * n / (n + height)))
    return np.column_stack([np.degrees(lon), np.degrees(lat)])


def plan_to_wgs84(fit: FitRecord, plan_px: np.ndarray) -> np.ndarray:
    """Plan pixels (N, 2) ``(x, y)`` -> (N, 2) ``(lon, lat)`` degrees through ``fit``."""
    local = apply_matrix(np.linalg.inv(fit.array()), np.asarray(plan_px, float))
    return local_to_wgs84(fit.origin_lat, fit.origin_lon, local)
