"""The committed JSON Schemas are exactly what the models generate."""

from __future__ import annotations

import json

import pytest

from workers.contract.schemas import SCHEMA_DIR, generate_schemas, render


@pytest.mark.parametrize("name", sorted(generate_schemas()))
def test_committed_schema_is_up_to_date(name: str) -> None:
    committed = (SCHEMA_DIR / name).read_text(encoding="utf-8")
    assert committed == render(generate_schemas()[name]), (
        f"workers/contract/schemas/{name} is stale; run `python -m workers.contract.schemas`"
    )


def test_schemas_name_their_documents() -> None:
    schemas = generate_schemas()
    assert set(schemas) >= {"sidecar.schema.json", "tour.schema.json", "scene.schema.json"}
    tour = json.loads(render(schemas["tour.schema.json"]))
    assert tour["properties"]["schema"]["const"] == "panodock.tour/1"
    sidecar = schemas["sidecar.schema.json"]
    assert {"position", "points_of_interest", "links"} <= set(sidecar["properties"])
