"""Builders for the site tests: a synthetic floor plan with control points around a spot.

The plan is 1200x800 px at 20 px/m; plan px (600, 400) is the local origin. Control
points are placed on the plan, projected to local metres with the plan's true geometry and
turned into lat/lon by inverting :class:`workers.sites.geo.LocalFrame` numerically, so the tests
check the fit against a geometry they built, not against the fit itself.
"""

from __future__ import annotations

import argparse
import io
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from workers.cli.site import add_site_commands, fit_record, run_site_command
from workers.contract.keys import plan_key
from workers.contract.site import ControlPoint, Floor, PlanImage, Site
from workers.sites.geo import LocalFrame, fit_plan
from workers.store.base import ObjectStore

SITE = "campus"
PLAN_W, PLAN_H = 1200, 800
SCALE = 20.0
CENTRE = (600.0, 400.0)
#: The iPhone 5 test file's GPS fix (tests/data/metadata/Apple_iPhone_5.exif-app1.bin).
ORIGIN = (47.62716666666667, -122.33733333333333)
#: Plan px of the control points the CLI tests register.
GCP_SPOTS = [(100, 100), (1100, 120), (1080, 700), (150, 690), (600, 380), (400, 600)]


def plan_to_local(x: float, y: float, north_deg: float) -> tuple[float, float]:
    """The true local metres (east, north) of a plan px on this synthetic floor."""
    dx, dy = (x - CENTRE[0]) / SCALE, (y - CENTRE[1]) / SCALE
    c, s = math.cos(math.radians(north_deg)), math.sin(math.radians(north_deg))
    return dx * c + dy * s, dx * s - dy * c


def latlon_at(
    east: float, north: float, origin: tuple[float, float] = ORIGIN
) -> tuple[float, float]:
    """Lat/lon whose local metres around ``origin`` are (east, north) (Newton steps)."""
    frame = LocalFrame(*origin)
    lat, lon = origin
    for _ in range(5):
        got = frame.to_local([lat], [lon])[0]
        lat += (north - got[1]) / 111_200.0
        lon += (east - got[0]) / (111_300.0 * math.cos(math.radians(lat)))
    return lat, lon


def plan_latlon(x: float, y: float, north_deg: float = 0.0) -> tuple[float, float]:
    return latlon_at(*plan_to_local(x, y, north_deg))


def make_floor(
    floor: str = "1", *, north_deg: float = 0.0, with_fit: bool = True, building: str = "main"
) -> Floor:
    spots = [(100, 100), (1100, 120), (1080, 700), (150, 690), (600, 380), (400, 600)]
    points = [
        ControlPoint(name=f"p{i}", x=x, y=y, lat=lat, lon=lon)
        for i, (x, y) in enumerate(spots)
        for lat, lon in [plan_latlon(x, y, north_deg)]
    ]
    fit = None
    if with_fit:
        frame = LocalFrame.around([p.lat for p in points], [p.lon for p in points])
        local = frame.to_local([p.lat for p in points], [p.lon for p in points])
        result = fit_plan(np.array(spots, float), local, "similarity", [p.name for p in points])
        fit = fit_record(result, frame)
    return Floor(
        id=floor,
        plan=PlanImage(key=plan_key(SITE, building, floor, ".png"), width=PLAN_W, height=PLAN_H),
        scale_px_per_m=SCALE,
        north_offset_deg=north_deg,
        control_points=points if with_fit else [],
        fit=fit,
    )


def make_site(*floors: Floor, building: str = "main") -> Site:
    site = Site(id=SITE)
    for floor in floors:
        site = site.with_floor(building, floor)
    return site


def plan_png(width: int = PLAN_W, height: int = PLAN_H) -> bytes:
    img = np.full((height, width, 3), 255, np.uint8)
    cv2.rectangle(img, (50, 50), (width - 50, height - 50), (0, 0, 0), 4)
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def run_cli(store: ObjectStore, *argv: str) -> tuple[int, str]:
    """Run ``panodock site ...`` / ``panodock place ...``; the exit code and what it printed."""
    parser = argparse.ArgumentParser(prog="panodock")
    add_site_commands(parser.add_subparsers(dest="command", required=True))
    out = io.StringIO()
    code = run_site_command(parser.parse_args(list(argv)), None, store, out=out)
    return code, out.getvalue()


def gcp_args(north_deg: float, seed: int, outlier: int | None = None) -> list[str]:
    """``--gcp`` arguments for :data:`GCP_SPOTS` with 2 px of noise (40 px more on ``outlier``)."""
    rng = np.random.default_rng(seed)
    args = []
    for i, (x, y) in enumerate(GCP_SPOTS):
        lat, lon = plan_latlon(x, y, north_deg)
        nx, ny = np.array([x, y]) + rng.normal(0, 2.0, 2) + (40.0 if i == outlier else 0.0)
        args += ["--gcp", f"p{i}={nx:.2f},{ny:.2f},{lat:.9f},{lon:.9f}"]
    return args


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    """The synthetic floor plan as a PNG file, as a technician hands it to the CLI."""
    path = tmp_path / "floor1.png"
    path.write_bytes(plan_png())
    return path
