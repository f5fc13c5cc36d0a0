"""The placement fallback chain: plan px -> local metres -> GPS -> sequence -> unplaced."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import pyvips

from config.errors import QuarantineError
from ingest.metadata import read_metadata
from ingest.sidecar import Sidecar, parse_sidecar
from tests.sites.conftest import PLAN_H, SCALE, make_floor, make_site, plan_latlon
from workers.contract.tour import Placement
from workers.sites.placement import RouteStop, interpolate_routes, place

DATA = Path(__file__).parents[1] / "data" / "metadata"


def _sidecar(**fields: Any) -> Sidecar:
    return parse_sidecar(json.dumps({"floor": "1", **fields}).encode())


def _wgs84(x: float, y: float, accuracy: float | None = 3.0, north: float = 0.0) -> dict[str, Any]:
    lat, lon = plan_latlon(x, y, north)
    return {"frame": "wgs84", "lat": lat, "lon": lon, "accuracy_m": accuracy}


def _jpeg_with_app1(app1: bytes) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((8, 16, 3), 128, np.uint8))
    assert ok
    return buf.tobytes()[:2] + app1 + buf.tobytes()[2:]


def _exif_jpeg(**fields: str) -> bytes:
    image = pyvips.Image.black(16, 8, bands=3).copy()
    for key, value in fields.items():
        image.set_type(pyvips.GValue.gstr_type, "exif-" + key.replace("_", "-", 1), value)
    data: bytes = image.jpegsave_buffer()
    return data


def test_plan_position_wins_over_gps() -> None:
    site = make_site(make_floor())
    sidecar = _sidecar(position={"frame": "plan", "x": 300.5, "y": 200})
    exif = read_metadata(_jpeg_with_app1((DATA / "Apple_iPhone_5.exif-app1.bin").read_bytes()))
    assert exif.gps is not None
    got = place(sidecar, site, exif_gps=exif.gps)
    assert (got.source, got.floor, got.x, got.y, got.accuracy_m) == (
        "plan",
        "main/1",
        300.5,
        200,
        None,
    )


def test_local_metres_use_the_floor_frame() -> None:
    site = make_site(make_floor())
    got = place(_sidecar(position={"frame": "local", "x_m": 10.0, "y_m": 5.0}), site)
    assert got.source == "local"
    assert (got.x, got.y) == pytest.approx((10.0 * SCALE, PLAN_H - 5.0 * SCALE))


@pytest.mark.parametrize("north", [0.0, 30.0, 290.0])
def test_sidecar_gps_is_mapped_through_the_fit(north: float) -> None:
    site = make_site(make_floor(north_deg=north))
    got = place(_sidecar(position=_wgs84(900, 250, north=north)), site)
    assert got.source == "gps" and got.floor == "main/1"
    assert (got.x, got.y) == pytest.approx((900, 250), abs=0.05)
    assert got.accuracy_m is not None and got.accuracy_m >= 3.0


def test_real_exif_fix_places_a_scene_on_a_site_built_around_it() -> None:
    # The iPhone's fix is the synthetic site's origin: plan centre (600, 400).
    exif = read_metadata(_jpeg_with_app1((DATA / "Apple_iPhone_5.exif-app1.bin").read_bytes()))
    got = place(_sidecar(), make_site(make_floor()), exif_gps=exif.gps)
    assert got.source == "gps" and got.accuracy_m is None
    assert (got.x, got.y) == pytest.approx((600, 400), abs=0.05)


def test_inaccurate_gps_is_refused_with_a_reason() -> None:
    got = place(_sidecar(position=_wgs84(900, 250, accuracy=45.0)), make_site(make_floor()))
    assert got.source == "none" and not got.placed
    assert any("accuracy 45 m is worse than the 10 m limit" in n for n in got.notes)


def test_gps_landing_off_the_plan_is_refused() -> None:
    lat, lon = plan_latlon(600, 400)
    position = {"frame": "wgs84", "lat": lat + 0.01, "lon": lon, "accuracy_m": 2.0}
    got = place(_sidecar(position=position), make_site(make_floor()))
    assert got.source == "none"
    assert any("outside the 1200x800 plan" in n for n in got.notes)


def test_an_empty_gps_block_leaves_a_reason() -> None:
    meta = read_metadata((DATA / "tests__45-gps_ifd.jpg").read_bytes())
    got = place(_sidecar(), make_site(make_floor()), exif_gps=meta.gps, exif_warnings=meta.warnings)
    assert got.source == "none"
    assert "EXIF: the EXIF GPS block is empty; no GPS position" in got.notes


def test_latitude_213_6_is_refused_with_a_reason() -> None:
    meta = read_metadata(
        _exif_jpeg(
            ifd3_GPSLatitudeRef="N",
            ifd3_GPSLatitude="213/1 36/1 0/1",
            ifd3_GPSLongitudeRef="W",
            ifd3_GPSLongitude="122/1 20/1 0/1",
        )
    )
    got = place(_sidecar(), make_site(make_floor()), exif_gps=meta.gps, exif_warnings=meta.warnings)
    assert got.source == "none"
    assert "EXIF: GPS latitude 213.6° is impossible; ignoring the GPS fix" in got.notes
    with pytest.raises(QuarantineError, match=r"position\.lat"):
        _sidecar(position={"frame": "wgs84", "lat": 213.6, "lon": -122.3})


def test_gps_needs_a_fitted_floor() -> None:
    got = place(_sidecar(position=_wgs84(900, 250)), make_site(make_floor(with_fit=False)))
    assert got.source == "none"
    assert any("has no control-point fit" in n for n in got.notes)


def test_unknown_floor_and_unregistered_site() -> None:
    got = place(
        _sidecar(floor="9", position={"frame": "plan", "x": 1, "y": 1}), make_site(make_floor())
    )
    assert got.source == "none" and got.floor is None
    assert any("matches none of main/1" in n for n in got.notes)
    assert not place(None, None).placed
    # A one-floor site needs no floor in the sidecar.
    assert place(
        parse_sidecar(b'{"position": {"frame": "plan", "x": 5, "y": 6}}'), make_site(make_floor())
    ).placed


def _stop(
    scene: str, index: int, xy: tuple[float, float] | None, floor: str = "main/1"
) -> RouteStop:
    placement = Placement(floor=floor, x=xy[0], y=xy[1], source="plan") if xy else Placement()
    return RouteStop(scene=scene, route="r", index=index, placement=placement, scale_px_per_m=SCALE)


def test_sequence_interpolates_between_placed_neighbours_only() -> None:
    stops = [
        _stop("a", 0, (100, 100)),
        _stop("b", 1, None),
        _stop("c", 2, None),
        _stop("d", 3, (400, 700)),
        _stop("e", 4, None),  # after the last placed stop: stays unplaced
        _stop("f", 5, (50, 50), floor="main/2"),
        _stop("g", 6, None),  # between floors: stays unplaced
        _stop("h", 7, (60, 60), floor="main/3"),
    ]
    got = interpolate_routes(stops)
    assert set(got) == {"b", "c"}
    assert (got["b"].x, got["b"].y) == pytest.approx((200, 300))
    assert (got["c"].x, got["c"].y) == pytest.approx((300, 500))
    assert got["b"].source == "sequence" and got["b"].accuracy_m == pytest.approx(
        math.hypot(300, 600) / 2 / SCALE
    )
