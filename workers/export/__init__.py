"""Exports for first responders: GeoJSON, printable floor maps, an offline bundle.

``panodock export SITE --out DIR`` (:mod:`workers.cli.export`) runs :func:`run_export`
(:mod:`workers.export.run`), which reads the site's tour and registry once and writes each
product: :mod:`~workers.export.geojson`, :mod:`~workers.export.pdf` (with
:mod:`~workers.export.mapdraw` drawing each page), :mod:`~workers.export.offline`.
"""
