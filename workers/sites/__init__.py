"""Sites: the floor-plan registry, control-point fits, scene placement and the site tour.

The documents (``site.json``, ``tour.json``) are published contract, in
:mod:`workers.contract`; this package is the behaviour that fills them:

- ``registry.py``: reading and writing ``site.json`` in the store.
- ``geo.py``: WGS84 to local metres, fits between plan pixels and metres (pure).
- ``placement.py``: where a scene stands on its plan, a fallback chain (pure).
- ``tour.py``: building the tour from the scenes' entries and the registry (pure).
- ``tour_update.py``: from a published scene to an updated ``tour.json`` (store I/O).
"""
