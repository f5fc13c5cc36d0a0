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

import logging
from collections.abc import Callable
from typing import Final, Protocol, runtime_checkable

from config.names import canonical
from workers.contract.keys import site_key
from workers.contract.site import Site, Visibility
from workers.store.base import ObjectStore
from workers.store.conditional import update_object

log = logging.getLogger(__name__)
_UPDATE_ATTEMPTS: Final = 20
#: Times the access policy is recomputed when the registries change while it is applied.
_POLICY_ROUNDS: Final = 3


@runtime_checkable
class AccessPolicy(Protocol):
    """A store that can let anonymous readers in (S3's bucket policy); LocalStore cannot."""

    def apply_public_sites(self, public: list[str]) -> None:
        """Make exactly the sites in ``public`` anonymously readable."""
        ...


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


def public_sites(store: ObjectStore) -> list[str]:
    """The sites whose registry says ``visibility: public``, sorted.

    A registry that cannot be read as one counts as private (and is logged): an error
    never opens a site.
    """
    found = []
    for key in store.list("sites/"):
        parts = key.split("/")
        if len(parts) != 3 or parts[2] != "site.json":
            continue
        try:
            site = Site.model_validate_json(store.get(key))
        except ValueError as exc:
            log.warning("%s is not a valid site registry (%s); counted as private", key, exc)
            continue
        if site.visibility == "public":
            found.append(site.id)
    return sorted(found)


def apply_visibility(store: ObjectStore) -> list[str] | None:
    """Apply the access policy the registries ask for; returns the public sites.

    None when the store has no access policy (the local store: never served without
    credentials). The registries are read again after the policy is set, and it is set
    again if they changed meanwhile (another visibility change raced this one).
    """
    if not isinstance(store, AccessPolicy):
        return None
    public = public_sites(store)
    for _ in range(_POLICY_ROUNDS):
        store.apply_public_sites(public)
        again = public_sites(store)
        if again == public:
            break
        public = again
    return public


def set_visibility(store: ObjectStore, site: str, visibility: Visibility) -> Site:
    """Record ``visibility`` in the site's registry and apply the bucket's access policy.

    Raises
    ------
    ValueError
        ``site`` is not a stored slug.
    """
    written = update_site(
        store, site, lambda current: current.model_copy(update={"visibility": visibility})
    )
    apply_visibility(store)
    return written
