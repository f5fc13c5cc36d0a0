"""The printable floor map: real text a PDF reader finds, on Letter or A3 landscape."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from pypdf import PdfReader

from tests.export.test_geojson import _entry
from tests.sites.conftest import make_floor, make_site, plan_png
from workers.contract.site import SitePoi, Verification
from workers.contract.tour import TourPoi
from workers.export.links import Links
from workers.export.pdf import floor_pdf, render_png
from workers.sites.tour import LinkOptions, build_tour

LABELS = ["AED 2 (gym) \\ back", "Door <b>4</b>", "Gas shut-off, boiler room", "Odd thing"]


def _tour(verified: bool):  # type: ignore[no-untyped-def]
    registry = make_site(make_floor(north_deg=30.0)).model_copy(
        update={
            "points_of_interest": [
                SitePoi(id="aed-2", floor="main/1", x=300, y=200, kind="aed", label=LABELS[0]),
                SitePoi(id="gas", floor="main/1", x=1199, y=799, kind="shutoff_gas",
                        label=LABELS[2]),
                SitePoi(id="odd", floor="main/1", x=600, y=400, kind="sculpture", label=LABELS[3]),
            ],
            "verifications": [
                Verification(floor="main/1", by="A. Lee", date=date(2025, 1, 5),
                             recorded_at=datetime(2025, 1, 5, tzinfo=UTC)),
                Verification(floor="main/1", by="J. Ortiz", date=date(2026, 9, 1), note="annual",
                             recorded_at=datetime(2026, 9, 1, tzinfo=UTC)),
            ] if verified else [],
        }
    )  # fmt: skip
    door = TourPoi(kind="exterior_door", label=LABELS[1], number="4", yaw_deg=0, pitch_deg=0,
                   position={"frame": "plan", "x": 10.0, "y": 400.0})  # fmt: skip
    entries = {"a": _entry("a", 300, 500, [door]), "b": _entry("b", 900, 600, [])}
    return build_tour("campus", registry, entries, LinkOptions())


@pytest.mark.parametrize(("page", "width"), [("letter", 792), ("a3", 1190.55)])
def test_pdf_text_holds_labels_grid_and_verification(page: str, width: float) -> None:
    tour = _tour(verified=True)
    pdf = floor_pdf(
        tour, tour.floors[0], plan_png(), Links("campus", "https://x.example/s/t/"),
        site_name="Campus High", page=page, generated_at=datetime(2026, 12, 2, 22, 0, tzinfo=UTC),
    )  # fmt: skip
    reader = PdfReader(__import__("io").BytesIO(pdf))
    assert len(reader.pages) == 2
    assert float(reader.pages[0].mediabox.width) == pytest.approx(width, abs=1)
    first = reader.pages[0].extract_text()
    text = first + "\n".join(p.extract_text() for p in reader.pages[1:])
    for label in LABELS:
        assert label in text, label
    for grid_label in [*"ABCDEF", "1", "2", "3", "4"]:
        # All four edges: each column letter and row number at least twice on the map page.
        assert len(re.findall(rf"(?m)^{grid_label}$", first)) >= 2, grid_label
    assert "Last verified 2026-09-01 by J. Ortiz (annual)" in first
    assert "Generated 2026-12-02 22:00 UTC" in first
    assert "Campus High — building main — floor 1" in first
    assert "true north 30°" in first and re.search(r"(?m)^(1|2|5|10|20) m$", first)
    assert "Other (sculpture)" in text  # unknown kinds are kept, shown as other
    assert "https://x.example/s/t/scene/campus/a" in text
    listing = reader.pages[1].extract_text()
    assert listing.index("A3") < listing.index("B2") < listing.index("F4"), "by grid cell"
    png = render_png(pdf, dpi=40)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_unverified_floor_says_so() -> None:
    tour = _tour(verified=False)
    pdf = floor_pdf(
        tour, tour.floors[0], plan_png(), Links("campus"), site_name="Campus",
        generated_at=datetime.now(UTC),
    )  # fmt: skip
    text = PdfReader(__import__("io").BytesIO(pdf)).pages[0].extract_text()
    assert "Not verified by a walkthrough yet" in text
