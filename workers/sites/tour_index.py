"""Per-scene tour entries and the site index built from them, debounced.

Publishing a scene writes only its own entry, ``sites/<site>/tour/scenes/<scene>.json``
(a few kB, contended only by writers of that same scene), and a private marker
``tour-dirty/<site>``. ``tour.json`` is assembled from the entries by
:func:`rebuild_index`; a worker process's :class:`TourIndexer` does it a short debounce
after its publishes, once for all the scenes that came in meanwhile, so publishing one scene
costs the same at 20 scenes and at 5,000 and workers do not fight over tour.json (a
rebuild that loses a conditional write simply lists the entries again).

Healing: the index is never the source of truth. Every rebuild lists ALL entries, so one
that follows a crash (between an entry and the index) includes the orphan. A worker that
dies inside its debounce leaves its marker behind; every indexer sweeps markers older than
``sweep_after_seconds`` (at its start and then every so often) and rebuilds those sites.
A marker is removed after a rebuild only when no publisher rewrote it meanwhile.

A tour.json written before entries existed is adopted on its first rebuild: its scenes get
entries, and the marker ``sites/<site>/tour/adopted`` says it was done.
"""

from __future__ import annotations

import atexit
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from config.errors import ObjectNotFound, PreconditionFailed
from workers.contract.keys import (
    TOUR_DIRTY_PREFIX,
    tour_adopted_key,
    tour_dirty_key,
    tour_entries_prefix,
    tour_entry_key,
    tour_key,
)
from workers.contract.tour import Tour, TourEntry
from workers.sites.attachments import publish_entry_attachments
from workers.sites.registry import load_site
from workers.sites.tour import LinkOptions, build_tour
from workers.store.base import ObjectStore
from workers.store.conditional import update_object

log = logging.getLogger(__name__)

_ATTEMPTS: Final = 40
_FETCH_THREADS: Final = 8

#: Entries by key, with the ETag they were read at (a process keeps one per store).
EntryCache = dict[str, tuple[str, TourEntry]]


def read_entry(store: ObjectStore, site: str, scene: str) -> TourEntry | None:
    """A scene's stored tour entry, or None."""
    try:
        return TourEntry.model_validate_json(store.get(tour_entry_key(site, scene)))
    except ObjectNotFound:
        return None


def change_entry(
    store: ObjectStore,
    site: str,
    scene: str,
    change: Callable[[TourEntry | None], TourEntry],
) -> TourEntry:
    """Apply ``change`` to one scene's entry (conditional: only its own writers contend)."""
    written: list[TourEntry] = []

    def apply(current: bytes | None) -> bytes:
        old = TourEntry.model_validate_json(current) if current else None
        written[:] = [change(old)]
        return written[0].model_dump_json().encode()

    update_object(store, tour_entry_key(site, scene), apply, attempts=_ATTEMPTS)
    return written[0]


def adopt_legacy(store: ObjectStore, site: str) -> None:
    """Give the scenes of a tour.json older than per-scene entries an entry each (once)."""
    if store.exists(tour_adopted_key(site)):
        return
    try:
        old = Tour.model_validate_json(store.get(tour_key(site))).entries()
    except ObjectNotFound:
        old = {}  # a new site: nothing to adopt
    for scene, entry in old.items():
        change_entry(store, site, scene, _keep_newer(entry))
    store.put(tour_adopted_key(site), b"", content_type="text/plain")
    log.info("site %s: kept the %d scenes of its tour.json as entries", site, len(old))


def _keep_newer(entry: TourEntry) -> Callable[[TourEntry | None], TourEntry]:
    # A publish since the old tour.json may have written the entry already: keep that one.
    return lambda current: current or entry


def load_entries(
    store: ObjectStore, site: str, cache: EntryCache | None = None
) -> dict[str, TourEntry]:
    """Every stored entry of a site, reading only those not in ``cache`` at their ETag."""
    cache = {} if cache is None else cache
    prefix = tour_entries_prefix(site)
    infos = [i for i in store.list_info(prefix) if i.key.endswith(".json")]
    stale = [i for i in infos if cache.get(i.key, ("",))[0] != i.etag]

    def fetch(key: str) -> TourEntry | None:
        try:
            return TourEntry.model_validate_json(store.get(key))
        except ObjectNotFound:  # gone since it was listed
            return None

    with ThreadPoolExecutor(_FETCH_THREADS) as pool:
        for info, entry in zip(stale, pool.map(fetch, [i.key for i in stale]), strict=True):
            if entry is not None:
                cache[info.key] = (info.etag, entry)
    listed = {i.key for i in infos}
    for key in [k for k in cache if k.startswith(prefix) and k not in listed]:
        del cache[key]
    return {cache[k][1].scene: cache[k][1] for k in sorted(listed) if k in cache}


def rebuild_index(
    store: ObjectStore,
    site: str,
    *,
    options: LinkOptions | None = None,
    cache: EntryCache | None = None,
) -> Tour:
    """Write ``tour.json`` from every stored entry and the registry; returns the tour.

    The write is conditional on the index not having changed since the entries were listed,
    so a rebuild never replaces a newer one with an older view.

    Raises
    ------
    PreconditionFailed
        tour.json kept changing for every attempt.
    """
    adopt_legacy(store, site)
    key = tour_key(site)
    for attempt in range(_ATTEMPTS):
        before = store.head(key)
        entries = load_entries(store, site, cache)
        tour = build_tour(site, load_site(store, site), entries, options or LinkOptions())
        try:
            store.put(
                key,
                tour.to_json(),
                content_type="application/json",
                if_match=before.etag if before is not None else None,
                if_none_match=before is None,
            )
            return tour
        except PreconditionFailed:
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
    raise PreconditionFailed(f"{key} kept changing; gave up after {_ATTEMPTS} rebuilds")


def mark_dirty(store: ObjectStore, site: str) -> None:
    """Note that the site's index is behind its entries (a unique token each time)."""
    store.put(tour_dirty_key(site), uuid.uuid4().hex.encode(), content_type="text/plain")


def rebuild_dirty(
    store: ObjectStore,
    site: str,
    *,
    options: LinkOptions | None = None,
    cache: EntryCache | None = None,
) -> Tour:
    """Rebuild a site's index, then drop its marker unless a publisher rewrote it meanwhile."""
    marker = store.head(tour_dirty_key(site))
    tour = rebuild_index(store, site, options=options, cache=cache)
    if marker is not None:
        now = store.head(tour_dirty_key(site))
        if now is not None and now.etag == marker.etag:
            store.delete(tour_dirty_key(site))
    return tour


def abandoned_sites(store: ObjectStore, older_than_seconds: float) -> list[str]:
    """Sites whose marker nobody removed for a while (its publisher died in its debounce)."""
    now = time.time()
    return [
        info.key[len(TOUR_DIRTY_PREFIX) :]
        for info in store.list_info(TOUR_DIRTY_PREFIX)
        if info.modified is None or now - info.modified >= older_than_seconds
    ]


class TourIndexer:
    """A process's publisher of tour entries and debounced rebuilder of site indexes.

    :meth:`publish` writes the entry and the marker. A site with fewer than
    ``inline_below`` scenes (as this process last saw it; a site it has not built yet counts
    as small) is rebuilt at once, which costs less than waiting: the scene is in the tour
    when its job ends. A larger one is left to a background thread, which rebuilds each
    marked site ``debounce_seconds`` after its first unbuilt publish (one rebuild for every
    scene published meanwhile) and sweeps abandoned markers every ``sweep_after_seconds``.
    :meth:`close` (also run at interpreter exit) rebuilds what is left.
    """

    def __init__(
        self,
        store: ObjectStore,
        *,
        debounce_seconds: float = 2.0,
        sweep_after_seconds: float = 60.0,
        inline_below: int = 100,
        options: LinkOptions | None = None,
    ) -> None:
        self.store = store
        self.inline_below = inline_below
        self._known: dict[str, int] = {}  # scenes per site at this process's last rebuild
        self.debounce_seconds = debounce_seconds
        self.sweep_after_seconds = sweep_after_seconds
        self.options = options or LinkOptions()
        self.cache: EntryCache = {}
        self._dirty: set[str] = set()
        self._lock = threading.Lock()
        self._rebuilding = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_sweep = 0.0  # sweep at the first round: heals an earlier crash

    def publish(self, site: str, entry: TourEntry) -> TourEntry:
        """Store a scene's entry (keeping a placement or heading made by hand); index soon."""
        stored = write_entry(self.store, site, entry)
        mark_dirty(self.store, site)
        with self._lock:
            if self._thread is None:  # from the first publish on: it also sweeps
                self._thread = threading.Thread(target=self._run, name="tour-indexer", daemon=True)
                self._thread.start()
                self._wake.set()
        if self._known.get(site, 0) < self.inline_below:
            self._rebuild(site)
            return stored
        with self._lock:
            self._dirty.add(site)
        self._wake.set()
        return stored

    def flush(self) -> None:
        """Rebuild every site this process marked, now."""
        with self._lock:
            sites, self._dirty = sorted(self._dirty), set()
        for site in sites:
            try:
                self._rebuild(site)
            except Exception:
                log.warning("site %s: tour rebuild failed; retrying soon", site, exc_info=True)
                with self._lock:
                    self._dirty.add(site)

    def _rebuild(self, site: str) -> None:
        with self._rebuilding:  # one rebuild at a time: they share the entry cache
            tour = rebuild_dirty(self.store, site, options=self.options, cache=self.cache)
            self._known[site] = len(tour.scenes)

    def close(self) -> None:
        """Stop the thread and rebuild what is still marked."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(30)
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.sweep_after_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            if self._stop.wait(self.debounce_seconds):  # let the scenes of this round come in
                return  # close() flushes
            if time.monotonic() - self._last_sweep >= self.sweep_after_seconds:
                self._last_sweep = time.monotonic()
                try:
                    left = abandoned_sites(self.store, self.sweep_after_seconds)
                except Exception:
                    log.warning("could not list abandoned tour markers", exc_info=True)
                    left = []
                with self._lock:
                    self._dirty.update(left)
            self.flush()


def write_entry(store: ObjectStore, site: str, entry: TourEntry) -> TourEntry:
    """Store a published scene's entry; a placement or heading made by hand survives.

    It survives a republish unless the new capture brings a position in plan pixels or
    local metres (or a sidecar heading).
    """

    entry = publish_entry_attachments(store, entry) if _has_attachments(entry) else entry

    def merge(old: TourEntry | None) -> TourEntry:
        new = entry
        if old is not None and old.placement.source == "manual":
            if new.placement.source not in ("plan", "local"):
                new = new.model_copy(update={"placement": old.placement})
        if old is not None and old.heading_source == "manual" and new.heading_source != "sidecar":
            new = new.model_copy(
                update={"heading_deg": old.heading_deg, "heading_source": "manual"}
            )
        return new

    return change_entry(store, site, entry.scene, merge)


def _has_attachments(entry: TourEntry) -> bool:
    return bool(entry.attachments) or any(p.attachments for p in entry.points_of_interest)


_INDEXERS: dict[int, tuple[ObjectStore, TourIndexer]] = {}
_INDEXERS_LOCK = threading.Lock()


def indexer_for(store: ObjectStore, *, debounce_seconds: float) -> TourIndexer:
    """The process's indexer for ``store`` (one per store; closed at interpreter exit)."""
    with _INDEXERS_LOCK:
        found = _INDEXERS.get(id(store))
        if found is None or found[0] is not store:
            indexer = TourIndexer(store, debounce_seconds=debounce_seconds)
            _INDEXERS[id(store)] = (store, indexer)
            return indexer
        return found[1]


def close_indexers() -> None:
    """Close the process's indexers (rebuilding what they left marked) and forget them.

    Run at interpreter exit; a process that runs jobs against one store after another (the
    tests) runs it when it is done with a store, so no indexer thread outlives its store.
    """
    with _INDEXERS_LOCK:
        indexers = [indexer for _, indexer in _INDEXERS.values()]
        _INDEXERS.clear()
    for indexer in indexers:
        indexer.close()


atexit.register(close_indexers)
