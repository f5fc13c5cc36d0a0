"""From a published scene to an updated ``sites/<site>/tour.json``: the tour's I/O.

The pipeline calls :func:`locate_scene` (where the scene stands, against the site registry),
:func:`scene_metadata` (what scene.json says about it) and :func:`tour_entry`, then
publishes the entry through :class:`workers.sites.tour_index.TourIndexer` (the entry now,
tour.json debounced); ``panodock place`` calls :func:`place_scene_by_hand` and
``panodock site add-floor`` :func:`rebuild_tour`, which rebuild tour.json at once. Each
scene's entry is its own object, so workers publishing scenes of one site at once never
contend; tour.json is rebuilt from all the entries (:mod:`workers.sites.tour_index`,
:func:`workers.sites.tour.build_tour`).
"""

from __future__ import annotations

import logging
from typing import Any, Final

from pydantic import ValidationError

from config.errors import ConfigError
from ingest.metadata import ImageMetadata
from ingest.sidecar import Sidecar
from workers.contract.keys import current_key, floor_ref
from workers.contract.scene import CurrentPointer, SceneManifest
from workers.contract.tour import (
    HeadingSource,
    LinkRequest,
    Placement,
    PoiGiven,
    Tour,
    TourEntry,
    TourPoi,
)
from workers.sites.attachments import resolve_refs
from workers.sites.placement import place
from workers.sites.registry import load_site
from workers.sites.tour import LinkOptions
from workers.sites.tour_index import (
    adopt_legacy,
    change_entry,
    read_entry,
    rebuild_dirty,
    rebuild_index,
    write_entry,
)
from workers.store.base import ObjectStore

log = logging.getLogger(__name__)

_ATTEMPTS: Final = 40


def locate_scene(
    store: ObjectStore,
    site: str,
    sidecar: Sidecar | None,
    meta: ImageMetadata | None,
    *,
    max_gps_accuracy_m: float | None = None,
) -> Placement:
    """Place a scene from its sidecar and metadata against the site's registry."""
    extra = {} if max_gps_accuracy_m is None else {"max_gps_accuracy_m": max_gps_accuracy_m}
    return place(
        sidecar,
        load_site(store, site),
        exif_gps=meta.gps if meta else None,
        exif_warnings=meta.warnings if meta else (),
        **extra,
    )


def scene_metadata(placement: Placement, sidecar: Sidecar | None) -> dict[str, Any]:
    """What scene.json's ``metadata`` carries about placement and points of interest."""
    out: dict[str, Any] = {"placement": placement.model_dump(mode="json")}
    if sidecar is not None and sidecar.points_of_interest:
        out["points_of_interest"] = [
            TourPoi.model_validate(
                p.model_dump(include={"kind", "label", "yaw_deg", "pitch_deg"})
            ).model_dump(mode="json")
            for p in sidecar.points_of_interest
        ]
    return out


def tour_entry(manifest: SceneManifest, sidecar: Sidecar | None, placement: Placement) -> TourEntry:
    """The tour entry of a published scene version."""
    links: list[LinkRequest] = []
    if sidecar is not None and sidecar.model_extra and "links" in sidecar.model_extra:
        raw = sidecar.model_extra["links"]
        for item in raw if isinstance(raw, list) else []:
            try:
                links.append(LinkRequest.model_validate(item))
            except ValidationError as exc:
                log.warning("scene %s: ignoring a malformed sidecar link: %s", manifest.scene, exc)
    heading_source: HeadingSource = manifest.heading.source
    refs = sidecar.attachments if sidecar else []
    poi_refs = [a for p in (sidecar.points_of_interest if sidecar else []) for a in p.attachments]
    missing = resolve_refs(manifest.site, [*refs, *poi_refs], manifest.sources)[1]
    return TourEntry(
        scene=manifest.scene,
        title=(sidecar.room if sidecar and sidecar.room else None) or manifest.scene,
        version=manifest.version,
        base=manifest.base,
        manifest=f"{manifest.base}/scene.json",
        thumb=manifest.thumb.key,
        placement=placement,
        heading_deg=manifest.heading.heading_deg,
        heading_source=heading_source,
        route=sidecar.sequence.route if sidecar and sidecar.sequence else None,
        index=sidecar.sequence.index if sidecar and sidecar.sequence else None,
        points_of_interest=[
            TourPoi(
                kind=p.kind,
                label=p.label,
                yaw_deg=p.yaw_deg,
                pitch_deg=p.pitch_deg,
                id=p.id,
                number=p.number,
                position=PoiGiven.model_validate(p.position.model_dump(exclude={"source"}))
                if p.position is not None
                else None,
                notes=p.notes,
                attachments=resolve_refs(manifest.site, p.attachments, manifest.sources)[0],
            )
            for p in (sidecar.points_of_interest if sidecar else [])
        ],
        links=links,
        viewers=manifest.viewers,
        published_at=manifest.created_at,
        notes=sidecar.notes if sidecar else None,
        attachments=resolve_refs(manifest.site, refs, manifest.sources)[0],
        attachment_notes=missing,
    )


def publish_scene_to_tour(
    store: ObjectStore, site: str, entry: TourEntry, *, options: LinkOptions | None = None
) -> Tour:
    """Store a scene's tour entry and rebuild the site's tour.json now; returns the tour.

    A placement or heading made by hand survives a republish unless the new capture brings
    a position in plan pixels or local metres (or a sidecar heading). The pipeline publishes
    through :class:`workers.sites.tour_index.TourIndexer` instead, which rebuilds debounced.
    """
    write_entry(store, site, entry)
    return rebuild_index(store, site, options=options)


def rebuild_tour(store: ObjectStore, site: str, *, options: LinkOptions | None = None) -> Tour:
    """Rebuild tour.json from every stored entry and the registry (after a floor changed)."""
    return rebuild_dirty(store, site, options=options)


def place_scene_by_hand(
    store: ObjectStore,
    site: str,
    scene: str,
    x: float,
    y: float,
    heading: float | None = None,
    *,
    floor: str | None = None,
    options: LinkOptions | None = None,
) -> Tour:
    """Place a published scene on a plan by hand; rewrites its tour entry and tour.json.

    The scene's version (tiles and scene.json) is immutable and stays as it is: the manual
    position, heading and the viewers' north offset live in the scene's tour entry
    (``sites/<site>/tour/scenes/<scene>.json``), which is what tour consumers read.

    Parameters
    ----------
    x, y:
        Plan pixels (x right, y down).
    heading:
        Where the panorama's centre faces ON THE PLAN, degrees clockwise from plan-up; the
        compass heading is this minus the floor's north offset. None keeps the heading.
    floor:
        Tour floor id ``<building>/<floor>``; default the scene's floor, else the site's
        only floor.

    Raises
    ------
    ConfigError
        The scene is not published, the floor is unknown, or the position is off the plan.
    """
    registry = load_site(store, site)
    if not store.exists(current_key(site, scene)):
        raise ConfigError(f"scene {scene} of site {site} is not published (no current.json)")
    pointer = CurrentPointer.model_validate_json(store.get(current_key(site, scene)))
    adopt_legacy(store, site)
    known = read_entry(store, site, scene)
    floor_id = floor or (known.placement.floor if known else None)
    if floor_id is None and registry is not None and len(registry.floors()) == 1:
        b, f = registry.floors()[0]
        floor_id = floor_ref(b.id, f.id)
    target = registry.floor(floor_id) if registry and floor_id else None
    if target is None or floor_id is None:
        choices = ", ".join(floor_ref(b.id, f.id) for b, f in registry.floors()) if registry else ""
        raise ConfigError(
            f"no floor {floor_id!r} in site {site}; give --floor, one of: {choices or 'none'}"
        )
    if not target.contains(x, y):
        raise ConfigError(
            f"({x}, {y}) is off the {target.plan.width}x{target.plan.height} plan of {floor_id}"
        )
    placement = Placement(floor=floor_id, x=x, y=y, source="manual")
    compass = None if heading is None else (heading - target.north_offset_deg) % 360.0
    manifest = SceneManifest.model_validate_json(store.get(pointer.manifest))

    def change(entry: TourEntry | None) -> TourEntry:
        entry = entry or tour_entry(manifest, None, placement)
        update: dict[str, Any] = {"placement": placement}
        if compass is not None:
            viewers = {n: {**cfg, "northOffset": compass} for n, cfg in entry.viewers.items()}
            update |= {"heading_deg": compass, "heading_source": "manual", "viewers": viewers}
        return entry.model_copy(update=update)

    change_entry(store, site, scene, change)
    return rebuild_dirty(store, site, options=options)
