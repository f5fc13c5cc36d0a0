"""One export of a site: read its tour and plans once, write every product, time each.

::

    DIR/SITE.geojson                  RFC 7946, WGS84 (floors with a control-point fit)
    DIR/SITE-plan-coordinates.json    the floors without a fit, in plan pixels (if any)
    DIR/maps/<building>-<floor>.pdf   printable map + listing per floor (and .png of the map)
    DIR/offline/                      the self-contained bundle (index.html ...)
    DIR/SITE-offline.zip              the same bundle zipped

The tour is rebuilt first, so the export shows the registry's latest points, grid and
walkthroughs. Reading is through the object store, so it works against the local store or S3
alike; an export of a private site is the operator's action on the host (the CLI).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from config.errors import ConfigError
from workers.contract.keys import floor_ref
from workers.export.geojson import build as build_geojson
from workers.export.links import Links
from workers.export.pdf import floor_pdf, render_png
from workers.sites.registry import load_site
from workers.sites.tour_update import rebuild_tour
from workers.store.base import ObjectStore


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """What to export and how; ``viewers`` is the installed viewers' node_modules."""

    share: str | None = None
    public_url: str | None = None
    page: str = "letter"
    max_face_px: int = 2048
    viewers: Path | None = None
    offline: bool = True
    png: bool = True


@dataclass(slots=True)
class ExportReport:
    """The files written (path -> bytes) and seconds per product."""

    out: Path
    files: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, path: Path) -> None:
        self.files[str(path.relative_to(self.out))] = path.stat().st_size


def run_export(store: ObjectStore, site: str, out: Path, options: ExportOptions) -> ExportReport:
    """Write the site's GeoJSON, floor maps and offline bundle under ``out``.

    Raises
    ------
    ConfigError
        The site has no registry or no floors.
    """
    registry = load_site(store, site)
    if registry is None or not registry.floors():
        raise ConfigError(f"site {site} has no floor plans registered (panodock site add-floor)")
    report = ExportReport(out)
    out.mkdir(parents=True, exist_ok=True)
    tour = rebuild_tour(store, site)
    links = Links.make(site, options.share, options.public_url)
    generated = datetime.now(UTC)
    name = registry.name or site

    started = time.perf_counter()
    world, plan_only = build_geojson(tour, links)
    world["name"] = name
    world["generated_at"] = generated.isoformat()
    world["unplaced"] = [
        {"id": p.id, "kind": p.catalogue_kind, "label": p.label, "why": p.position.notes}
        for p in tour.pois
        if not p.position.placed
    ]
    _write(report, out / f"{site}.geojson", json.dumps(world, indent=1).encode())
    if plan_only is not None:
        _write(report, out / f"{site}-plan-coordinates.json", json.dumps(plan_only).encode())
        report.notes.append(
            f"floors {', '.join(plan_only['floors'])} have no control-point fit: exported in "
            f"plan pixels in {site}-plan-coordinates.json, not in {site}.geojson"
        )
    report.seconds["geojson"] = time.perf_counter() - started
    report.notes.extend(f"point {p.id}: {w}" for p in tour.pois for w in p.warnings)
    unplaced = [p.id for p in tour.pois if not p.position.placed]
    if unplaced:
        report.notes.append(
            f"{len(unplaced)} point(s) of interest not on the maps (position unknown; "
            f"panodock poi list says why): {', '.join(unplaced)}"
        )

    started = time.perf_counter()
    plans = {f.id: store.get(f.plan.key) for f in tour.floors}
    for floor in tour.floors:
        pdf = floor_pdf(
            tour,
            floor,
            plans[floor.id],
            links,
            site_name=name,
            page=options.page,
            generated_at=generated,
        )
        stem = floor_ref(floor.building, floor.floor).replace("/", "-")
        _write(report, out / "maps" / f"{stem}.pdf", pdf)
        if options.png:
            _write(report, out / "maps" / f"{stem}.png", render_png(pdf))
    report.seconds["maps"] = time.perf_counter() - started

    if options.offline:
        from workers.export.offline import write_bundle

        started = time.perf_counter()
        for path in write_bundle(store, tour, plans, out, options, generated, name):
            report.add(path)
        report.seconds["offline"] = time.perf_counter() - started
    return report


def _write(report: ExportReport, path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    report.add(path)
