"""Drawing one floor's map page on a reportlab canvas: plan, grid, symbols, legend.

The page (landscape) holds a title block (site, building, floor; when generated; the last
walkthrough), the map (the plan image scaled to fit, the grid's lines with their labels on
all four edges, every placed point of interest as its catalogue symbol with its label, every
placed scene as a numbered marker) and a column with the legend, a north arrow (north is
``north_offset_deg`` clockwise from plan-up) and a scale bar. All text is drawn with
``drawString``: real, searchable PDF text, never interpreted as markup.

Page coordinates are PDF points, origin bottom-left; :class:`MapFrame` turns plan pixels
(x right, y down) into them.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Final

from reportlab.lib.colors import HexColor, black, white
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from config.poi import BY_ID, KINDS, OTHER, PoiKind
from workers.contract.tour import Tour, TourFloor
from workers.sites.grid import grid_of

MARGIN: Final = 30.0
BAND: Final = 14.0  # grid label band around the map
LEGEND_W: Final = 150.0
FONT: Final = "Helvetica"
BOLD: Final = "Helvetica-Bold"
CONFIDENTIAL: Final = "CONFIDENTIAL: school safety data, for public-safety agencies only"


def clean(text: object) -> str:
    """Sidecar text as one printable line (control characters dropped)."""
    return "".join(ch if ch.isprintable() else " " for ch in str(text)).strip()


@dataclass(frozen=True, slots=True)
class MapFrame:
    """Where the plan lies on the page: origin (left, bottom) and points per plan pixel."""

    left: float
    bottom: float
    scale: float
    width_px: int
    height_px: int

    def point(self, x: float, y: float) -> tuple[float, float]:
        return self.left + x * self.scale, self.bottom + (self.height_px - y) * self.scale


def symbol(canvas: Canvas, kind: PoiKind, cx: float, cy: float, r: float) -> None:
    """The catalogue symbol of ``kind`` centred on (cx, cy), radius ``r`` points."""
    canvas.saveState()
    canvas.setFillColor(HexColor(kind.colour))
    canvas.setStrokeColor(black)
    canvas.setLineWidth(0.5)
    if kind.shape == "circle":
        canvas.circle(cx, cy, r, stroke=1, fill=1)
    elif kind.shape == "square":
        canvas.rect(cx - r, cy - r, 2 * r, 2 * r, stroke=1, fill=1)
    else:
        sides = {"triangle": 3, "diamond": 4, "hexagon": 6}[kind.shape]
        start = {"triangle": 90.0, "diamond": 90.0, "hexagon": 0.0}[kind.shape]
        path = canvas.beginPath()
        for i in range(sides):
            a = math.radians(start + 360.0 * i / sides)
            px, py = cx + r * 1.15 * math.cos(a), cy + r * 1.15 * math.sin(a)
            path.moveTo(px, py) if i == 0 else path.lineTo(px, py)
        path.close()
        canvas.drawPath(path, stroke=1, fill=1)
    size = r * (1.1 if len(kind.code) == 1 else 0.85 if len(kind.code) == 2 else 0.62)
    canvas.setFillColor(white)
    canvas.setFont(BOLD, size)
    dy = -size * 0.35 - (r * 0.2 if kind.shape == "triangle" else 0.0)
    canvas.drawCentredString(cx, cy + dy, kind.code)
    canvas.restoreState()


def scene_marker(canvas: Canvas, number: int, cx: float, cy: float, r: float = 6.0) -> None:
    """A numbered scene marker: white disc, black ring, the scene's number."""
    canvas.saveState()
    canvas.setFillColor(white)
    canvas.setStrokeColor(black)
    canvas.setLineWidth(1.0)
    canvas.circle(cx, cy, r, stroke=1, fill=1)
    canvas.setFillColor(black)
    canvas.setFont(BOLD, r * (1.1 if number < 10 else 0.85 if number < 100 else 0.65))
    canvas.drawCentredString(cx, cy - r * 0.38, str(number))
    canvas.restoreState()


def draw_map_page(
    canvas: Canvas,
    tour: Tour,
    floor: TourFloor,
    plan_image: bytes,
    scene_numbers: dict[str, int],
    *,
    title: str,
    generated: str,
    verified: str,
) -> None:
    """Draw page 1 of a floor: everything on the map, the legend, north and scale."""
    page_w, page_h = canvas._pagesize
    room = page_w - 2 * MARGIN - canvas.stringWidth(CONFIDENTIAL, FONT, 8) - 12
    size = 15.0
    while size > 8 and canvas.stringWidth(clean(title), BOLD, size) > room:
        size -= 0.5  # a long site name: smaller, never over the confidentiality line
    canvas.setFont(BOLD, size)
    canvas.drawString(MARGIN, page_h - MARGIN - 8, clean(title))
    canvas.setFont(FONT, 8)
    canvas.drawString(MARGIN, page_h - MARGIN - 22, clean(generated))
    canvas.drawString(MARGIN + 260, page_h - MARGIN - 22, clean(verified))
    canvas.setFillColor(HexColor("#a61e4d"))
    canvas.setFont(FONT, 8)
    canvas.drawRightString(page_w - MARGIN, page_h - MARGIN - 8, CONFIDENTIAL)
    canvas.setFillColor(black)
    top = page_h - MARGIN - 32
    area_w = page_w - 2 * MARGIN - LEGEND_W - 10 - 2 * BAND
    area_h = top - MARGIN - 2 * BAND
    w, h = floor.plan.width, floor.plan.height
    scale = min(area_w / w, area_h / h)
    left = MARGIN + BAND + (area_w - w * scale) / 2
    bottom = MARGIN + BAND + (area_h - h * scale) / 2
    frame = MapFrame(left, bottom, scale, w, h)
    canvas.drawImage(_image(plan_image), left, bottom, w * scale, h * scale)
    _grid(canvas, floor, frame)
    _scenes(canvas, tour, floor, frame, scene_numbers)
    kinds = _pois(canvas, tour, floor, frame)
    legend_x = page_w - MARGIN - LEGEND_W
    _legend(canvas, legend_x, top, kinds, floor.grid.cell_m if floor.grid else None)
    _north(canvas, legend_x + 30, MARGIN + 110, floor.north_offset_deg)
    _scale_bar(canvas, legend_x, MARGIN + 40, floor.scale_px_per_m * scale)


def _image(data: bytes) -> ImageReader:
    return ImageReader(io.BytesIO(data))


def _grid(canvas: Canvas, floor: TourFloor, frame: MapFrame) -> None:
    if floor.grid is None:
        return
    grid = grid_of(floor.grid, floor.plan.width, floor.plan.height)
    xs, ys = grid.column_edges(), grid.row_edges()
    x0, y_top = frame.point(0, 0)
    x1, y_bottom = frame.point(floor.plan.width, floor.plan.height)
    canvas.saveState()
    canvas.setStrokeColor(HexColor("#d6336c"))
    canvas.setLineWidth(0.6)
    for x in xs:
        px, _ = frame.point(x, 0)
        canvas.line(px, y_bottom, px, y_top)
    for y in ys:
        _, py = frame.point(0, y)
        canvas.line(x0, py, x1, py)
    canvas.setFillColor(HexColor("#a61e4d"))
    canvas.setFont(BOLD, 8)
    for col in range(len(xs) - 1):
        cx = frame.point((xs[col] + xs[col + 1]) / 2, 0)[0]
        label = floor.grid.column_labels[col]
        canvas.drawCentredString(cx, y_top + 4, label)
        canvas.drawCentredString(cx, y_bottom - 10, label)
    for row in range(len(ys) - 1):
        cy = frame.point(0, (ys[row] + ys[row + 1]) / 2)[1] - 3
        canvas.drawCentredString(x0 - BAND / 2, cy, str(row + 1))
        canvas.drawCentredString(x1 + BAND / 2, cy, str(row + 1))
    canvas.restoreState()


def _scenes(
    canvas: Canvas, tour: Tour, floor: TourFloor, frame: MapFrame, numbers: dict[str, int]
) -> None:
    for scene in tour.scenes:
        p = scene.position
        if p.placed and p.floor == floor.id and p.x is not None and p.y is not None:
            scene_marker(canvas, numbers[scene.scene], *frame.point(p.x, p.y))


def _pois(canvas: Canvas, tour: Tour, floor: TourFloor, frame: MapFrame) -> list[PoiKind]:
    seen: dict[str, PoiKind] = {}
    for poi in tour.pois:
        q = poi.position
        if not (q.placed and q.floor == floor.id and q.x is not None and q.y is not None):
            continue
        kind = BY_ID.get(poi.catalogue_kind, OTHER)
        seen[kind.id] = kind
        cx, cy = frame.point(q.x, q.y)
        symbol(canvas, kind, cx, cy, 6.5)
        text = clean(poi.label or kind.title)
        if poi.number and poi.number not in text:
            text = f"{text} #{clean(poi.number)}"
        canvas.saveState()
        canvas.setFont(FONT, 6.5)
        canvas.setFillColor(white)
        width = canvas.stringWidth(text, FONT, 6.5)
        canvas.rect(cx + 8, cy - 3, width + 2, 8, stroke=0, fill=1)
        canvas.setFillColor(black)
        canvas.drawString(cx + 9, cy - 1.5, text)
        canvas.restoreState()
    order = [k.id for k in (*KINDS, OTHER)]
    return sorted(seen.values(), key=lambda k: order.index(k.id))


def _legend(
    canvas: Canvas, x: float, top: float, kinds: list[PoiKind], cell_m: float | None
) -> None:
    canvas.setFont(BOLD, 10)
    canvas.drawString(x, top - 10, "Legend")
    y = top - 28
    scene_marker(canvas, 1, x + 7, y + 3)
    canvas.setFont(FONT, 8)
    canvas.drawString(x + 18, y, "Scene (360° view), numbered")
    for kind in kinds:
        y -= 16
        symbol(canvas, kind, x + 7, y + 3, 6)
        canvas.setFont(FONT, 8)
        canvas.drawString(x + 18, y, kind.title)
    y -= 16
    canvas.setStrokeColor(HexColor("#d6336c"))
    canvas.line(x + 1, y + 3, x + 13, y + 3)
    canvas.setStrokeColor(black)
    canvas.drawString(x + 18, y, "Grid: letters across, numbers down")
    if cell_m is not None:
        canvas.drawString(x + 18, y - 10, f"cells {cell_m:g} m x {cell_m:g} m")


def _north(canvas: Canvas, cx: float, cy: float, north_deg: float) -> None:
    a = math.radians(north_deg)
    dx, dy = math.sin(a), math.cos(a)
    length = 24.0
    canvas.saveState()
    canvas.setStrokeColor(black)
    canvas.setFillColor(black)
    canvas.setLineWidth(1.5)
    tip = (cx + dx * length, cy + dy * length)
    tail = (cx - dx * length, cy - dy * length)
    canvas.line(*tail, *tip)
    path = canvas.beginPath()
    path.moveTo(*tip)
    path.lineTo(tip[0] - dx * 9 + dy * 5, tip[1] - dy * 9 - dx * 5)
    path.lineTo(tip[0] - dx * 9 - dy * 5, tip[1] - dy * 9 + dx * 5)
    path.close()
    canvas.drawPath(path, stroke=0, fill=1)
    canvas.setFont(BOLD, 11)
    canvas.drawCentredString(tip[0] + dx * 9, tip[1] + dy * 9 - 4, "N")
    canvas.setFont(FONT, 7)
    canvas.drawString(cx + 36, cy - 3, f"true north {north_deg:.0f}°")
    canvas.drawString(cx + 36, cy - 12, "from plan-up")
    canvas.restoreState()


def _scale_bar(canvas: Canvas, x: float, y: float, points_per_m: float) -> None:
    metres = max(
        (m for m in (1, 2, 5, 10, 20, 50, 100, 200, 500) if m * points_per_m <= 130), default=1
    )
    length = metres * points_per_m
    canvas.saveState()
    for i in range(4):
        canvas.setFillColor(black if i % 2 == 0 else white)
        canvas.rect(x + i * length / 4, y, length / 4, 5, stroke=1, fill=1)
    canvas.setFillColor(black)
    canvas.setFont(FONT, 7)
    canvas.drawString(x, y - 9, "0")
    canvas.drawRightString(x + length, y - 9, f"{metres} m")
    canvas.drawString(x, y + 9, "Scale")
    canvas.restoreState()
