"""Walkthrough records: a person walked a floor and checked its map; which floors are due.

School-mapping laws ask for maps verified by a walkthrough (annually in NJ and H.R. 6809)
and updated on every change. ``panodock site verify`` appends a
:class:`workers.contract.site.Verification` to the site registry; the tour, the exports and
``site show`` carry the floor's last one. :func:`floors_due` says which floors need one: never
verified, verified more than ``max_age_days`` ago, or with a scene published after the day of
their last walkthrough (the map changed since it was checked).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final

from config.errors import ConfigError
from workers.contract.keys import floor_ref
from workers.contract.site import Site, Verification
from workers.contract.tour import Tour
from workers.sites.registry import update_site
from workers.sites.tour_update import rebuild_tour
from workers.store.base import ObjectStore

#: A walkthrough older than this many days is due again.
DEFAULT_MAX_AGE_DAYS: Final = 365


def record_verification(
    store: ObjectStore,
    site: str,
    floor: str,
    by: str,
    *,
    day: date | None = None,
    note: str | None = None,
) -> Verification:
    """Append a walkthrough of ``floor`` (``<building>/<floor>``) and rebuild the tour.

    Raises
    ------
    ConfigError
        ``day`` is in the future (a walkthrough is recorded after it happened).
    """
    today = datetime.now(UTC).date()
    if day is not None and day > today:
        raise ConfigError(
            f"walkthrough date {day.isoformat()} is in the future (today is "
            f"{today.isoformat()} UTC); record it once the floor has been walked"
        )
    record = Verification(
        floor=floor,
        by=by,
        date=day or today,
        note=note,
        recorded_at=datetime.now(UTC),
    )
    update_site(
        store,
        site,
        lambda current: current.model_copy(
            update={"verifications": [*current.verifications, record]}
        ),
    )
    rebuild_tour(store, site)
    return record


def registered_sites(store: ObjectStore) -> list[str]:
    """Every site with a registry (``sites/<site>/site.json``), sorted: floors come from there,
    so a site whose floors are registered but not yet captured is listed too."""
    return sorted(
        parts[1]
        for parts in (key.split("/") for key in store.list("sites/"))
        if len(parts) == 3 and parts[2] == "site.json"
    )


@dataclass(frozen=True, slots=True)
class FloorDue:
    """A floor whose map needs a walkthrough, and why."""

    site: str
    floor: str
    reason: str
    last: Verification | None


def floors_due(
    registry: Site,
    tour: Tour | None,
    *,
    today: date | None = None,
    max_age_days: int = DEFAULT_MAX_AGE_DAYS,
) -> list[FloorDue]:
    """The floors of a site that need a walkthrough, in registry order."""
    today = today or datetime.now(UTC).date()
    changed: dict[str, datetime] = {}
    for scene in tour.scenes if tour else []:
        if scene.position.floor is not None:
            at = scene.published_at.astimezone(UTC)
            changed[scene.position.floor] = max(changed.get(scene.position.floor, at), at)
    out = []
    for building, floor in registry.floors():
        ref = floor_ref(building.id, floor.id)
        last = registry.last_verification(ref)
        if last is None:
            out.append(FloorDue(registry.id, ref, "never verified", None))
        elif (today - last.date).days > max_age_days:
            age = (today - last.date).days
            out.append(FloorDue(registry.id, ref, f"last verified {age} days ago", last))
        elif ref in changed and _after(changed[ref], last):
            out.append(
                FloorDue(
                    registry.id,
                    ref,
                    f"scenes changed on {changed[ref].date().isoformat()}, after the walkthrough "
                    f"of {last.date.isoformat()}",
                    last,
                )
            )
    return out


def _after(published: datetime, last: Verification) -> bool:
    """Whether a scene published at ``published`` is newer than the walkthrough: a later day,
    or the same day after the walkthrough was recorded."""
    day = published.date()
    return day > last.date or (day == last.date and published > last.recorded_at)


def verification_line(last: Verification | None) -> str:
    """One line for maps and listings: who walked the floor when, or that nobody did."""
    if last is None:
        return "Not verified by a walkthrough yet"
    note = f" ({last.note})" if last.note else ""
    return f"Last verified {last.date.isoformat()} by {last.by}{note}"
