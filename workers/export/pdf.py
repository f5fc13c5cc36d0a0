"""``maps/<building>-<floor>.pdf`` and ``.png``: a printable map of each floor.

Page 1 is the map (:func:`workers.export.mapdraw.draw_map_page`). Page 2 on lists the
floor's points of interest by grid cell (symbol, kind, label, number, where the position came
from and how good it is, the scenes that see it, its documents, linked), those not on the map
and why, then the scenes with a QR code each that opens the scene (through the share link given with
``--share``, else the path of its page in the offline bundle). Landscape Letter or A3
(``export_page_size``). The PNG is page 1 rendered by PDFium (``pypdfium2``) at 150 dpi, for
a message or a slide. Text is real PDF text (a reader can search it) drawn with
``drawString``, which escapes what the PDF syntax needs and interprets no markup.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Final

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.colors import HexColor, black
from reportlab.lib.pagesizes import A3, LETTER, landscape
from reportlab.pdfgen.canvas import Canvas

from config.poi import BY_ID, OTHER
from workers.contract.site import Attachment
from workers.contract.tour import Tour, TourFloor, TourPlacedPoi
from workers.export.links import Links
from workers.export.mapdraw import BOLD, FONT, MARGIN, clean, draw_map_page, scene_marker, symbol
from workers.sites.grid import cell_sort_key
from workers.sites.verify import verification_line

PAGES: Final = {"letter": landscape(LETTER), "a3": landscape(A3)}
PNG_DPI: Final = 150
_ROW: Final = 13.0
_QR: Final = 62.0


def scene_numbers(tour: Tour) -> dict[str, int]:
    """The number of each scene's marker: its place in the tour (the same on every floor)."""
    return {s.scene: i for i, s in enumerate(tour.scenes, start=1)}


def floor_pdf(
    tour: Tour,
    floor: TourFloor,
    plan_image: bytes,
    links: Links,
    *,
    site_name: str,
    page: str = "letter",
    generated_at: datetime,
) -> bytes:
    """The floor's map as a PDF document."""
    buffer = io.BytesIO()
    size = PAGES[page]
    canvas = Canvas(buffer, pagesize=size, pageCompression=1)
    title = f"{site_name} — building {floor.building} — floor {floor.name or floor.floor}"
    canvas.setTitle(clean(title))
    canvas.setAuthor("panodock")
    canvas.setSubject("Floor map for first responders (confidential)")
    generated = f"Generated {generated_at.strftime('%Y-%m-%d %H:%M UTC')} by panodock"
    verified = verification_line(floor.verified)
    numbers = scene_numbers(tour)
    draw_map_page(
        canvas,
        tour,
        floor,
        plan_image,
        numbers,
        title=title,
        generated=generated,
        verified=verified,
    )
    canvas.showPage()
    _listing(canvas, tour, floor, links, numbers, title, size)
    canvas.save()
    return buffer.getvalue()


def render_png(pdf: bytes, *, dpi: int = PNG_DPI) -> bytes:
    """Page 1 of a PDF as a PNG, rendered by PDFium."""
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf)
    try:
        image = document[0].render(scale=dpi / 72).to_pil()
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=True)
        return out.getvalue()
    finally:
        document.close()


class _Writer:
    """Rows down a page, a new page (with its heading) when one is full."""

    def __init__(self, canvas: Canvas, size: tuple[float, float], heading: str) -> None:
        self.canvas, self.size, self.heading = canvas, size, heading
        self.y = 0.0
        self._new_page()

    def _new_page(self) -> None:
        self.canvas.setFont(BOLD, 11)
        self.canvas.drawString(MARGIN, self.size[1] - MARGIN - 6, clean(self.heading))
        self.y = self.size[1] - MARGIN - 26

    def need(self, height: float) -> float:
        if self.y - height < MARGIN:
            self.canvas.showPage()
            self._new_page()
        top = self.y
        self.y -= height
        return top

    def text(
        self,
        x: float,
        y: float,
        value: object,
        *,
        bold: bool = False,
        size: float = 8,
        width: float | None = None,
    ) -> None:
        font = BOLD if bold else FONT
        line = clean(value)
        if width is not None:
            while line and self.canvas.stringWidth(line, font, size) > width:
                line = line[:-2] + "…"
        self.canvas.setFont(font, size)
        self.canvas.drawString(x, y, line)


_COLUMNS: Final = (
    ("Cell", 0),
    ("", 34),
    ("Type", 50),
    ("Label", 160),
    ("No.", 330),
    ("Position", 370),
    ("Seen from scenes", 520),
)


def _listing(
    canvas: Canvas,
    tour: Tour,
    floor: TourFloor,
    links: Links,
    numbers: dict[str, int],
    title: str,
    size: tuple[float, float],
) -> None:
    out = _Writer(canvas, size, f"{title}: points of interest and scenes by grid cell")
    pois = [p for p in tour.pois if p.position.floor == floor.id]
    placed = sorted(
        (p for p in pois if p.position.placed), key=lambda p: (cell_sort_key(p.position.grid), p.id)
    )
    top = out.need(_ROW)
    for name, dx in _COLUMNS:
        out.text(MARGIN + dx, top - 9, name, bold=True)
    for poi in placed:
        _poi_row(out, poi, numbers)
        _note(out, poi.notes, size)
        _documents(out, poi.attachments, links, size)
    unplaced = [p for p in pois if not p.position.placed]
    if unplaced:
        top = out.need(2 * _ROW)
        out.text(MARGIN, top - 18, "Not on the map (position unknown)", bold=True, size=9)
        for poi in unplaced:
            top = out.need(_ROW)
            reason = poi.position.notes[-1] if poi.position.notes else "no position"
            out.text(
                MARGIN,
                top - 9,
                f"{poi.label or poi.kind} ({poi.id}): {reason}",
                width=size[0] - 2 * MARGIN,
            )
    _scene_rows(out, tour, floor, links, numbers, size)


def _note(out: _Writer, note: str | None, size: tuple[float, float], indent: float = 160) -> None:
    """A point's or a scene's notes under its row, one printed line each (cut to fit)."""
    for line in (note or "").splitlines():
        if line.strip():
            top = out.need(_ROW - 2)
            out.text(MARGIN + indent, top - 8, f"Note: {line}", size=7,
                     width=size[0] - 2 * MARGIN - indent)  # fmt: skip


def _documents(
    out: _Writer,
    items: list[Attachment],
    links: Links,
    size: tuple[float, float],
    indent: float = 160,
) -> None:
    """One line per attachment under its row, the title linked to the document."""
    for item in items:
        top = out.need(_ROW - 2)
        url = links.attachment(item)
        out.canvas.setFillColor(HexColor("#1c7ed6"))
        out.text(MARGIN + indent, top - 8, f"Document: {item.title} — {url}", size=7,
                 width=size[0] - 2 * MARGIN - indent)  # fmt: skip
        out.canvas.setFillColor(black)
        out.canvas.linkURL(url, (MARGIN + indent, top - 10, size[0] - MARGIN, top), relative=0)


def _poi_row(out: _Writer, poi: TourPlacedPoi, numbers: dict[str, int]) -> None:
    kind = BY_ID.get(poi.catalogue_kind, OTHER)
    top = out.need(_ROW)
    y = top - 9
    out.text(MARGIN, y, poi.position.grid or "-", bold=True)
    symbol(out.canvas, kind, MARGIN + 40, y + 3, 4.5)
    kind_text = kind.title if kind is not OTHER else f"Other ({poi.kind})"
    out.text(MARGIN + 50, y, kind_text, width=105)
    out.text(MARGIN + 160, y, poi.label or "", width=165)
    out.text(MARGIN + 330, y, poi.number or "", width=36)
    p = poi.position
    where = p.source + (f" ±{p.accuracy_m:.1f} m" if p.accuracy_m is not None else "")
    out.text(MARGIN + 370, y, where, width=145)
    seen = ", ".join(f"#{numbers[s.scene]}" for s in poi.scenes if s.scene in numbers)
    out.text(MARGIN + 520, y, seen or "-", width=200)


def _scene_rows(
    out: _Writer,
    tour: Tour,
    floor: TourFloor,
    links: Links,
    numbers: dict[str, int],
    size: tuple[float, float],
) -> None:
    scenes = [s for s in tour.scenes if s.position.floor == floor.id and s.position.placed]
    scenes.sort(key=lambda s: (cell_sort_key(s.grid), numbers[s.scene]))
    top = out.need(3 * _ROW)
    out.text(
        MARGIN, top - 20, "Scenes (360° views): scan a code to open the scene", bold=True, size=9
    )
    if not links.share:
        out.text(
            MARGIN,
            top - 32,
            "Codes and links hold the scene's page in the offline "
            "bundle (offline/); export with --share for links a phone can open.",
            size=7,
        )
    per_row = max(1, int((size[0] - 2 * MARGIN) // 250))
    for start in range(0, len(scenes), per_row):
        top = out.need(_QR + 10)
        for i, scene in enumerate(scenes[start : start + per_row]):
            x = MARGIN + i * 250
            url = links.scene(scene.scene)
            _qr(out.canvas, url, x, top - _QR - 4)
            out.canvas.linkURL(url, (x, top - _QR - 4, x + _QR, top - 4), relative=0)
            scene_marker(out.canvas, numbers[scene.scene], x + _QR + 12, top - 12)
            out.text(x + _QR + 22, top - 15, scene.title, bold=True, width=160)
            out.text(x + _QR + 6, top - 30, f"cell {scene.grid or '-'} · {scene.scene}", width=175)
            heading = f"{scene.heading_deg:.0f}°" if scene.heading_deg is not None else "unknown"
            out.text(x + _QR + 6, top - 42, f"centre faces {heading} from north", width=175)
            out.canvas.setFillColor(HexColor("#1c7ed6"))
            out.text(x + _QR + 6, top - 54, url, size=6, width=175)
            out.canvas.setFillColor(black)
    extra = [s for s in scenes if s.notes or s.attachments]
    if extra:
        top = out.need(2 * _ROW)
        out.text(MARGIN, top - 18, "Scene notes and documents", bold=True, size=9)
    for scene in extra:
        top = out.need(_ROW)
        out.text(MARGIN, top - 9, f"#{numbers[scene.scene]} {scene.title}", bold=True,
                 width=150)  # fmt: skip
        _note(out, scene.notes, size, indent=20)
        _documents(out, scene.attachments, links, size, indent=20)


def _qr(canvas: Canvas, url: str, x: float, y: float) -> None:
    widget = QrCodeWidget(url, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(_QR, _QR, transform=[_QR / (x1 - x0), 0, 0, _QR / (y1 - y0), 0, 0])
    drawing.add(widget)
    renderPDF.draw(drawing, canvas, x, y)
