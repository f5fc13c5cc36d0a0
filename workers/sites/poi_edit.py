"""Points of interest placed by hand: add, move and remove them in the site registry.

The records are :class:`workers.contract.site.SitePoi` in ``site.json`` (conditional
read-modify-write, :func:`workers.sites.registry.update_site`); every change rebuilds the
site's tour.json at once, where :mod:`workers.sites.poi` merges them with the points the
captures' sidecars name. Moving a point a sidecar named (by its id) records a hand placement
for it, which then wins over the sidecar's position or the triangulated one.
"""

from __future__ import annotations

import re

from config.errors import ConfigError
from config.names import canonical
from workers.contract.keys import floor_ref
from workers.contract.site import Site, SiteAttachment, SitePoi
from workers.contract.tour import Tour
from workers.sites.attachments import store_attachment
from workers.sites.registry import load_site, update_site
from workers.sites.tour_update import rebuild_tour
from workers.store.base import ObjectStore


def resolve_floor(registry: Site | None, site: str, floor: str | None) -> str:
    """The tour floor id ``<building>/<floor>`` a typed floor means (``2`` or ``main/2``).

    Raises
    ------
    ConfigError
        No such floor, or it is ambiguous; the message lists the floors.
    """
    found = None
    if registry is not None:
        if floor is not None and registry.floor(floor) is not None:
            found = floor
        else:
            building, _, name = (floor or "").rpartition("/")
            found = registry.find_floor(building or None, name or None)
    if found is None:
        choices = ", ".join(floor_ref(b.id, f.id) for b, f in registry.floors()) if registry else ""
        raise ConfigError(
            f"site {site}: no floor {floor!r}; give --floor, one of: {choices or 'none registered'}"
        )
    return found


def new_id(registry: Site | None, kind: str, label: str | None) -> str:
    """A fresh slug for a point placed by hand: from its label or kind, unique in the site."""
    base = re.sub(r"[^a-z0-9]+", "-", (label or kind).lower()).strip("-")[:60] or "poi"
    taken = {p.id for p in (registry.points_of_interest if registry else [])}
    candidate, n = canonical(base), 2
    while candidate in taken:
        candidate, n = f"{canonical(base)}-{n}", n + 1
    return candidate


def add_poi(store: ObjectStore, site: str, poi: SitePoi) -> Tour:
    """Record a point placed by hand (replacing one of the same id); returns the new tour.

    Raises
    ------
    ConfigError
        The floor is unknown or the position is off its plan.
    """
    _check_on_plan(load_site(store, site), site, poi)

    def change(registry: Site) -> Site:
        kept = [p for p in registry.points_of_interest if p.id != poi.id]
        return registry.model_copy(update={"points_of_interest": [*kept, poi]})

    update_site(store, site, change)
    return rebuild_tour(store, site)


def move_poi(
    store: ObjectStore, site: str, poi_id: str, x: float, y: float, floor: str | None = None
) -> Tour:
    """Place a point (by hand, or one a sidecar named) at plan (x, y); returns the new tour.

    Raises
    ------
    ConfigError
        No point of that id, an unknown floor, or a position off the plan.
    """
    registry = load_site(store, site)
    known = next(
        (p for p in (registry.points_of_interest if registry else []) if p.id == poi_id), None
    )
    if known is None:
        tour = rebuild_tour(store, site)
        seen = next((p for p in tour.pois if p.id == poi_id), None)
        if seen is None:
            raise ConfigError(
                f"site {site} has no point of interest {poi_id!r} (panodock poi list)"
            )
        floor_id = resolve_floor(registry, site, floor or seen.position.floor)
        known = SitePoi(id=poi_id, floor=floor_id, x=x, y=y)
    elif floor is not None:
        known = known.model_copy(update={"floor": resolve_floor(registry, site, floor)})
    return add_poi(store, site, known.model_copy(update={"x": x, "y": y}))


def remove_poi(store: ObjectStore, site: str, poi_id: str) -> Tour:
    """Drop a point's hand placement; a sidecar that names it keeps it in the tour.

    Raises
    ------
    ConfigError
        The registry has no point of that id.
    """
    registry = load_site(store, site)
    if registry is None or all(p.id != poi_id for p in registry.points_of_interest):
        raise ConfigError(
            f"site {site} has no point of interest {poi_id!r} placed by hand; points the "
            "captures name go when their scenes no longer name them"
        )
    update_site(
        store,
        site,
        lambda current: current.model_copy(
            update={"points_of_interest": [p for p in current.points_of_interest if p.id != poi_id]}
        ),
    )
    return rebuild_tour(store, site)


def _check_on_plan(registry: Site | None, site: str, poi: SitePoi) -> None:
    floor = registry.floor(poi.floor) if registry is not None else None
    if floor is None:
        resolve_floor(registry, site, poi.floor)  # raises with the list of floors
        return
    if not floor.contains(poi.x, poi.y):
        raise ConfigError(
            f"({poi.x:g}, {poi.y:g}) is off the {floor.plan.width}x{floor.plan.height} plan "
            f"of {poi.floor}"
        )


def attach(
    store: ObjectStore,
    site: str,
    target: str,
    name: str,
    data: bytes,
    title: str,
    *,
    scene: bool = False,
) -> Tour:
    """Attach a document to a point of interest (or, with ``scene``, a scene); new tour.

    Raises
    ------
    ConfigError
        No such point or scene, or the file is refused (type, size).
    """
    tour = rebuild_tour(store, site)
    known = [s.scene for s in tour.scenes] if scene else [p.id for p in tour.pois]
    if target not in known:
        what = "scene" if scene else "point of interest"
        raise ConfigError(f"site {site} has no {what} {target!r}")
    record = store_attachment(store, site, name, data, title)
    entry = SiteAttachment(
        **record.model_dump(), poi=None if scene else target, scene=target if scene else None
    )

    def change(registry: Site) -> Site:
        kept = [
            a
            for a in registry.attachments
            if not (a.sha256 == entry.sha256 and (a.poi, a.scene) == (entry.poi, entry.scene))
        ]
        return registry.model_copy(update={"attachments": [*kept, entry]})

    update_site(store, site, change)
    return rebuild_tour(store, site)
