"""Cameras a site knows: the lens a person approved for each, kept in its registry.

When a person approves a held dual-fisheye scene (:mod:`workers.ops.review`), the lens
profile it was stitched with is remembered for its camera (EXIF make/model/serial, or the
site's default camera for a frame without EXIF) in ``site.json`` ``cameras``
(:class:`workers.contract.site.CameraLens`). The metadata stage looks the camera up, so its
next frames are stitched with that profile and their lens check passes, naming who
approved it. The record has room for a fitted lens model (``fit``) as well.
"""

from __future__ import annotations

from datetime import UTC, datetime

from workers.contract.site import CameraLens, Site
from workers.sites.registry import load_site, update_site
from workers.store.base import ObjectStore

#: The name an operator gives the generic lens model (``--lens generic``).
GENERIC_LENS = "generic"


def remembered_lens(
    registry: Site | None, make: str | None, model: str | None, serial: str | None = None
) -> CameraLens | None:
    """The approved lens of the camera (make, model, serial) in ``registry``, or None."""
    if registry is None:
        return None
    for record in registry.cameras:
        if record.matches(make, model, serial):
            return record
    return None


def lens_for(
    store: ObjectStore, site: str, make: str | None, model: str | None
) -> CameraLens | None:
    """The approved lens of a camera of ``site`` (the registry is read from the store)."""
    return remembered_lens(load_site(store, site), make, model)


def remember_lens(
    store: ObjectStore,
    site: str,
    *,
    make: str | None,
    model: str | None,
    profile: str,
    by: str,
    capture_id: str | None = None,
) -> CameraLens:
    """Record ``profile`` as the approved lens of the camera (replacing an earlier one)."""
    record = CameraLens(
        make=make, model=model, profile=profile, approved_by=by,
        approved_at=datetime.now(UTC), capture_id=capture_id,
    )  # fmt: skip

    def change(current: Site) -> Site:
        kept = [c for c in current.cameras if not c.matches(make, model, None)]
        return current.model_copy(update={"cameras": [*kept, record]})

    update_site(store, site, change)
    return record


def note(record: CameraLens) -> str:
    """The sentence a lens check says of a remembered lens."""
    what = record.profile or "a fitted lens model"
    camera = " ".join(p for p in (record.make, record.model, record.serial) if p)
    return (
        f"lens {what} approved for {camera or 'the site default camera'} by "
        f"{record.approved_by} on {record.approved_at:%Y-%m-%d}"
    )
