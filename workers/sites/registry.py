"""Reading and writing the site registry, ``sites/<site>/site.json``, in the object store.

The document itself (sites -> buildings -> floors, plans, fits) is published contract:
:mod:`workers.contract.site`. ``site.json`` is written by ``panodock site add-floor``;
:func:`update_site` does a read-modify-write with conditional writes, so two technicians
registering floors of one site at once lose nothing.

``site`` arguments are stored slugs (lower-case, :mod:`config.names`): the name a capture's
sidecar or a command line gives is canonicalised where it enters panodock, and these
functions refuse one that was not, rather than read or write a registry no capture finds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from config.names import canonical
from workers.contract.keys import site_key
from workers.contract.site import Site
from workers.store.base import ObjectStore
from workers.store.conditional import update_object

_UPDATE_ATTEMPTS: Final = 20


def load_site(store: ObjectStore, site: str) -> Site | None:
    """The registry of ``site``, or None when none is registered.

    Raises
    ------
    ValueError
        ``site`` is not a stored slug (e.g. ``North-Campus`` rather than ``north-campus``).
    """
    key = site_key(_stored(site))
    if not store.exists(key):
        return None
    return Site.model_validate_json(store.get(key))


def update_site(store: ObjectStore, site: str, change: Callable[[Site], Site]) -> Site:
    """Read-modify-write ``site.json`` with conditional writes; returns what was written.

    ``change`` gets the current registry (an empty one for a new site) and may be called
    again if another writer got there first.

    Raises
    ------
    ValueError
        ``site`` is not a stored slug.
    PreconditionFailed
        The registry kept changing under us for every attempt.
    """
    written: list[Site] = []

    def apply(current: bytes | None) -> bytes:
        registry = Site.model_validate_json(current) if current else Site(id=site)
        written[:] = [change(registry)]
        return written[0].to_json()

    update_object(store, site_key(_stored(site)), apply, attempts=_UPDATE_ATTEMPTS)
    return written[0]


def _stored(site: str) -> str:
    try:
        stored = canonical(site)
    except ValueError as exc:
        raise ValueError(f"site {site!r}: {exc}") from None
    if stored != site:
        raise ValueError(f"site {site!r} is not a stored slug (that would be {stored!r})")
    return site
