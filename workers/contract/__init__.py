"""The published contract: the one folder whose change breaks front ends.

Front ends, share links, bucket readers and agency exports read exactly what this package
describes, and nothing else in panodock is published. A change here changes what every one
of them sees:

- ``keys.py``: every object key panodock writes (``raw/``, ``scenes/``, ``sites/``,
  ``schemas/``) and which prefixes are public (``PUBLIC_PREFIXES``).
- ``scene.py``: ``scenes/<site>/<scene>/<version>/scene.json`` ("panodock.scene/1") and
  ``scenes/<site>/<scene>/current.json`` ("panodock.current/1").
- ``tour.py``: ``sites/<site>/tour.json`` ("panodock.tour/1"), with the placements it embeds.
- ``site.py``: ``sites/<site>/site.json`` ("panodock.site/1"), the site registry.
- ``viewers.py``: the ready-made Pannellum, Marzipano and Photo Sphere Viewer configs inside
  scene.json and tour.json.
- ``schemas.py`` and ``schemas/*.json``: the JSON Schemas of those documents and of the
  capture app's ``capture.json`` (:mod:`ingest.sidecar`), published under ``schemas/``.

Bump a document's schema id ("panodock.scene/1" ...) when a change is not backwards
compatible, and regenerate the JSON Schemas with ``python -m workers.contract.schemas``
(tests/sites/test_schemas.py fails while they are stale). The behaviour that fills these
documents lives elsewhere: the pipeline (workers/pipeline) and the sites role (workers/sites).
"""
