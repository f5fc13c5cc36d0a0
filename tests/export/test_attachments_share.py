"""Attachments through a share link: every link of an export made with ``--share`` works.

The site is published by the real pipeline (tests/export/site_builder.py); a share of it is
made on the status service, the export is run with that share's URL, and every document
link the GeoJSON and the PDF hold is fetched through the gateway with no other credential:
the bytes are the file the capture folder held. Another site's attachments, the archived
originals and a path climbing out of the prefix stay out of the share's scope.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from pypdf import PdfReader

from config.settings import Settings
from tests.export.site_builder import DOCUMENTS, publish_site
from tests.sites.conftest import SITE
from tests.support.waiting import wait_for
from workers.access.shares import Share
from workers.contract.keys import attachment_key
from workers.export.run import ExportOptions, run_export
from workers.http.api import create_api
from workers.http.gateway import in_scope


def test_a_share_reads_its_sites_attachments_and_no_others() -> None:
    now = datetime.now(UTC)
    share = Share(
        id="s1", label="county 911", site="campus", scenes=["hall-west"], token_sha256="0" * 64,
        created_at=now, expires_at=now + timedelta(days=1),
    )  # fmt: skip
    sha = "a" * 64
    assert in_scope(share, attachment_key("campus", sha, "evac.pdf"))
    assert not in_scope(share, attachment_key("other-site", sha, "evac.pdf"))
    assert not in_scope(share, f"sites/campus/attachments/{sha}/../../site.json")
    assert not in_scope(share, f"raw/{sha}/evac.pdf"), "originals stay private"
    assert not in_scope(share, "sites/campus/site.json")


def test_export_links_open_the_documents_through_the_share(
    settings: Settings, tmp_path: Path, pano: np.ndarray
) -> None:
    harness = publish_site(settings, tmp_path / "captures", pano)
    app = create_api(settings, settings.redis_url or "", store=harness.store)
    made, token = app.state.access.shares.create(
        SITE, expires_in=timedelta(days=1), label="County 911"
    )
    base = "http://localhost"
    out = tmp_path / "export"
    run_export(harness.store, SITE, out, ExportOptions(share=f"{base}/s/{token}/", offline=False))
    world = json.loads((out / f"{SITE}.geojson").read_text())
    documents = {
        d["title"]: d["href"]
        for f in world["features"]
        for d in f["properties"].get("attachments", [])
    }
    assert set(documents) == {"Evacuation plan, wing B", "AED cabinet"}
    client = TestClient(app, base_url=base, client=("127.0.0.1", 50000))
    expected = {"Evacuation plan, wing B": "evac.pdf", "AED cabinet": "cabinet.png"}
    for title, href in documents.items():
        assert href.startswith(f"{base}/s/{token}/objects/sites/{SITE}/attachments/"), href
        got = client.get(href)
        assert got.status_code == 200, (title, got.status_code)
        assert got.content == DOCUMENTS[expected[title]]
        kind = "application/pdf" if title.startswith("Evacuation") else "image/png"
        assert got.headers["content-type"].split(";")[0] == kind, "opens in the browser"

    pdf = PdfReader(io.BytesIO((out / "maps" / "main-1.pdf").read_bytes()))
    linked = {
        str(note.get_object()["/A"]["/URI"])
        for page in pdf.pages
        for note in page.get("/Annots") or []
        if "/A" in note.get_object()
    }
    assert set(documents.values()) <= linked, "the PDF's document lines link through the share"
    scene_url = f"{base}/s/{token}/scene/{SITE}/hall-west"
    assert scene_url in linked, "the QR codes' scenes are linked too"
    assert client.get(scene_url).status_code == 200

    # The original of a document is archived (raw/<sha256>/...) but never in a share.
    evac = next(a for s in harness_tour(client, token) for a in s)
    assert client.get(f"{base}/s/{token}/objects/{evac['original']}").status_code == 404
    app.state.access.shares.revoke(made.id)
    # The gateway remembers a share for up to a second (workers.http.gateway._ShareCache).
    wait_for(lambda: client.get(documents["AED cabinet"]).status_code == 404, 3, "revocation")


def harness_tour(client: TestClient, token: str) -> list[list[dict[str, str]]]:
    """The attachments of each scene, as the share's tour.json lists them."""
    tour = client.get(f"/s/{token}/objects/sites/{SITE}/tour.json").json()
    return [s["attachments"] for s in tour["scenes"] if s["attachments"]]
