"""JSON Schemas of the documents panodock reads and publishes, generated from the models.

The committed files in ``workers/contract/schemas/`` are what front-end teams and capture-app
authors build against (and what is published under ``schemas/`` in the bucket,
:func:`workers.contract.keys.schema_key`); a test checks they equal what the models generate.
After changing a model, regenerate them from the repository root::

    python -m workers.contract.schemas

``sidecar.schema.json`` documents ``capture.json`` including the ``links`` field the tour
reads (kept as an unknown field by the sidecar parser, validated by the tour).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ingest.sidecar import Sidecar
from workers.contract.scene import SceneManifest
from workers.contract.site import Site
from workers.contract.tour import LinkRequest, Tour, TourEntry

SCHEMA_DIR = Path(__file__).parent / "schemas"


def generate_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema of the sidecar, site registry, scene manifest, tour, tour entry."""
    sidecar = Sidecar.model_json_schema(by_alias=True)
    links = LinkRequest.model_json_schema()
    sidecar.setdefault("$defs", {})["LinkRequest"] = links
    sidecar["properties"]["links"] = {
        "type": "array",
        "items": {"$ref": "#/$defs/LinkRequest"},
        "description": "Links to other scenes (stairs, lifts, doors), added to the tour.",
    }
    return {
        "sidecar.schema.json": sidecar,
        "site.schema.json": Site.model_json_schema(by_alias=True),
        "scene.schema.json": SceneManifest.model_json_schema(by_alias=True, mode="serialization"),
        "tour.schema.json": Tour.model_json_schema(by_alias=True, mode="serialization"),
        "tour-entry.schema.json": TourEntry.model_json_schema(mode="serialization"),
    }


def render(schema: dict[str, Any]) -> str:
    """The text a schema file holds."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema into ``directory``; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in generate_schemas().items():
        path = directory / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


def schema_files() -> dict[str, Path]:
    """The committed schema files by name (what panodock publishes under ``schemas/``)."""
    return {path.name: path for path in sorted(SCHEMA_DIR.glob("*.schema.json"))}


if __name__ == "__main__":
    for written_path in write_schemas():
        print(written_path)
