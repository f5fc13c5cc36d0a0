"""Published tour and scene configs are inert text in all three viewers, in real Chromium.

Two scenes are published through the pipeline with a script payload in every text field a
sidecar can set (room = scene title, POI kind and label, link kind and label). Each
published config is then loaded the way a front end would, with the public bucket URL
(``/objects/``) as the only change:

- Pannellum: ``tour.json``'s ``viewers.pannellum`` as the whole viewer config (multi-scene,
  hotspots), each hotspot hovered, each scene visited; and each scene.json's config.
- Marzipano: ``viewers.marzipano`` in the Marzipano Tool's ``data.js`` shape, with the
  hotspot elements the Tool's ``index.js`` builds (``innerHTML`` of the scene name, of an
  info hotspot's title and text), hovered and opened.
- Photo Sphere Viewer: ``viewers.photo_sphere_viewer`` as VirtualTourPlugin's config (with
  MarkersPlugin, 5.15.1 as the pinned core), each node visited, every tooltip shown and
  every marker and link arrow hovered (a link's tooltip is the target node's name and
  caption); once as published (``renderMode: 3d``) and once with ``2d`` arrows.

The test fails if any payload ran: ``window.__xss`` set or a dialog opened.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, Route

from config.settings import Settings
from tests.support.pipeline import Harness, folder_candidate, write_folder
from workers.contract.keys import tour_key
from workers.http.api import create_api
from workers.state.ledger import State

PSV_VERSION = "5.15.1"  # the pinned core's (workers/http/package-lock.json)
PAYLOADS = (
    '"><img src=x onerror=window.__xss=1>',
    "<script>window.__xss=2</script>",
    "javascript:window.__xss=3",
    "<svg onload=window.__xss=4>",
    "<img src=x onerror=alert(5)>",
    # These run without a network round trip (a tooltip may be gone before a 404 returns).
    '<img src="data:," onerror=window.__xss=6>',
    "<details open ontoggle=window.__xss=7>",
)
#: All of them in one text, the ones that need no network first (titles stop at 200).
EVERY = "".join(PAYLOADS[5:] + PAYLOADS[:5])


def _sidecar(scene: str, other: str) -> dict[str, object]:
    return {
        "site": "xss",
        "scene": scene,
        "room": EVERY[:200],
        "points_of_interest": [
            {"kind": p[:100], "label": p, "yaw_deg": 20 * i, "pitch_deg": -5}
            for i, p in enumerate(PAYLOADS)
        ]
        + [{"kind": "exit", "label": EVERY, "yaw_deg": -60, "pitch_deg": 0}],
        "links": [{"to": other, "kind": PAYLOADS[3], "label": PAYLOADS[0], "yaw_deg": 45}],
    }


@pytest.fixture(scope="module")
def psv_plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """VirtualTourPlugin and MarkersPlugin at the core's version (npm, exact versions)."""
    root = tmp_path_factory.mktemp("psv-plugins")
    (root / "package.json").write_text('{"name": "psv-plugins", "version": "1.0.0"}')
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--save-exact",
         f"@photo-sphere-viewer/virtual-tour-plugin@{PSV_VERSION}",
         f"@photo-sphere-viewer/markers-plugin@{PSV_VERSION}"],
        cwd=root, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"npm could not install the PSV plugins: {done.stderr[-600:]}", pytrace=False)
    return root / "node_modules" / "@photo-sphere-viewer"


@pytest.fixture
def site(
    settings: Settings, tmp_path: Path, small_pano_jpeg: bytes, viewer_modules: Path,
    serve: Callable[[FastAPI], str],
) -> Iterator[tuple[str, dict[str, object], list[dict[str, object]]]]:  # fmt: skip
    """Base URL, the published tour.json and both scene.json of the payload site."""
    harness = Harness(settings)
    for scene, other in (("alpha", "beta"), ("beta", "alpha")):
        folder = write_folder(
            tmp_path / scene, {"pano.jpg": small_pano_jpeg}, _sidecar(scene, other)
        )
        capture_id = harness.ingest(folder_candidate(folder))
        harness.drain()
        capture = harness.app.ledger.get(capture_id)
        assert capture.state == State.PUBLISHED, capture.reason
    tour = json.loads(harness.store.get(tour_key("xss")))
    manifests = [json.loads(harness.store.get(s["manifest"])) for s in tour["scenes"]]
    assert tour["scenes"][0]["title"] == EVERY[:200]  # the raw text stays for text consumers
    assert tour["points_of_interest"][0]["label"] == PAYLOADS[0]
    base = serve(
        create_api(settings, settings.redis_url or "", store=harness.store, viewers=viewer_modules)
    )
    yield base, tour, manifests


PAGE = """<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="/vendor/pannellum/pannellum.css">
<link rel="stylesheet" href="/vendor/psv/core.css">
<link rel="stylesheet" href="/xss/psv-plugins/markers-plugin/index.css">
<link rel="stylesheet" href="/xss/psv-plugins/virtual-tour-plugin/index.css">
<script type="importmap">{"imports": {
  "three": "/vendor/three/three.module.js",
  "@photo-sphere-viewer/core": "/vendor/psv/core.js",
  "@photo-sphere-viewer/cubemap-adapter": "/vendor/psv/cubemap-adapter.js",
  "@photo-sphere-viewer/cubemap-tiles-adapter": "/vendor/psv/cubemap-tiles-adapter.js",
  "@photo-sphere-viewer/markers-plugin": "/xss/psv-plugins/markers-plugin/index.module.js",
  "@photo-sphere-viewer/virtual-tour-plugin":
    "/xss/psv-plugins/virtual-tour-plugin/index.module.js"}}</script>
<script src="/vendor/pannellum/pannellum.js"></script>
<script src="/vendor/marzipano/marzipano.js"></script>
<style>#pano{width:640px;height:480px;position:relative}</style>
</head><body><div id="title"></div><div id="pano"></div><div id="info"></div></body></html>"""

FRONT_END = """
const BUCKET = "/objects/";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const el = document.getElementById("pano");

window.pannellumTour = async (cfg) => {
  // The published config as it is; only the bucket URL in front of the tile keys.
  for (const s of Object.values(cfg.scenes || {}))
    s.multiRes = { ...s.multiRes, basePath: BUCKET + s.multiRes.basePath };
  if (cfg.multiRes) cfg.multiRes = { ...cfg.multiRes, basePath: BUCKET + cfg.multiRes.basePath };
  const viewer = pannellum.viewer(el, { ...cfg, autoLoad: true });
  const ids = cfg.scenes ? Object.keys(cfg.scenes) : [null];
  for (const id of ids) {
    if (id && viewer.getScene() !== id) viewer.loadScene(id);
    for (let i = 0; i < 100 && !viewer.isLoaded(); i++) await sleep(50);
    await sleep(200);
  }
  return document.querySelectorAll(".pnlm-hotspot-base").length;
};

window.marzipanoTour = async (data) => {
  // What the Marzipano Tool's index.js does with data.js.
  const viewer = new Marzipano.Viewer(el);
  const byId = Object.fromEntries(data.scenes.map((d) => [d.id, d]));
  let made = 0;
  for (const d of data.scenes) {
    const source = Marzipano.ImageUrlSource.fromString(BUCKET + d.urlTemplate, {
      cubeMapPreviewUrl: BUCKET + d.cubeMapPreviewUrl });
    const geometry = new Marzipano.CubeGeometry(d.levels);
    const limiter = Marzipano.RectilinearView.limit.traditional(d.faceSize, 100 * Math.PI / 180);
    const view = new Marzipano.RectilinearView(d.initialViewParameters, limiter);
    const scene = viewer.createScene({ source, geometry, view, pinFirstLevel: true });
    for (const h of d.linkHotspots) {
      const wrapper = document.createElement("div");
      wrapper.classList.add("hotspot", "link-hotspot");
      const tooltip = document.createElement("div");
      tooltip.classList.add("hotspot-tooltip", "link-hotspot-tooltip");
      tooltip.innerHTML = byId[h.target].name;
      wrapper.appendChild(tooltip);
      scene.hotspotContainer().createHotspot(wrapper, { yaw: h.yaw, pitch: h.pitch });
      made++;
    }
    for (const h of d.infoHotspots) {
      const wrapper = document.createElement("div");
      wrapper.classList.add("hotspot", "info-hotspot");
      const title = document.createElement("div");
      title.classList.add("info-hotspot-title");
      title.innerHTML = h.title;
      const text = document.createElement("div");
      text.classList.add("info-hotspot-text");
      text.innerHTML = h.text;
      wrapper.append(title, text);
      wrapper.addEventListener("click", () => wrapper.classList.toggle("visible"));
      scene.hotspotContainer().createHotspot(wrapper, { yaw: h.yaw, pitch: h.pitch });
      made++;
    }
    document.getElementById("title").innerHTML = d.name;  // the Tool's scene name bar
    scene.switchTo({ transitionDuration: 0 });
    await sleep(300);
  }
  return made;
};

window.psvTour = async (cfg, flat) => {
  const { Viewer } = await import("@photo-sphere-viewer/core");
  const { CubemapTilesAdapter } = await import("@photo-sphere-viewer/cubemap-tiles-adapter");
  const { MarkersPlugin } = await import("@photo-sphere-viewer/markers-plugin");
  const { VirtualTourPlugin } = await import("@photo-sphere-viewer/virtual-tour-plugin");
  const nodes = cfg.nodes.map((n) => {
    const p = n.panorama;
    const tileUrl = (face, col, row, level) => BUCKET + p.tileUrlTemplate
      .replace("{level}", level + p.levelOffset).replace("{face}", p.faces[face])
      .replace("{row}", row).replace("{col}", col);
    return { ...n, thumbnail: BUCKET + n.thumbnail,
             panorama: { levels: p.levels, tileUrl, flipTopBottom: p.flipTopBottom } };
  });
  const tour = { positionMode: cfg.positionMode, renderMode: cfg.renderMode,
                 startNodeId: cfg.startNodeId, nodes };
  if (flat) tour.renderMode = "2d";
  const viewer = new Viewer({ container: el, adapter: CubemapTilesAdapter,
    plugins: [MarkersPlugin, [VirtualTourPlugin, tour]], loadingTxt: "" });
  const plugin = viewer.getPlugin(VirtualTourPlugin);
  const markers = viewer.getPlugin(MarkersPlugin);
  let shown = 0;
  for (const n of cfg.nodes) {
    await plugin.setCurrentNode(n.id);
    await sleep(400);
    markers.showAllTooltips();
    await sleep(200);
    for (const m of document.querySelectorAll(".psv-marker, .psv-virtual-tour-link")) {
      m.dispatchEvent(new MouseEvent("mouseenter", { bubbles: true, clientX: 300, clientY: 300 }));
      await sleep(300);  // a link's tooltip content is built asynchronously
      shown += document.querySelectorAll(".psv-tooltip").length;
      m.dispatchEvent(new MouseEvent("mouseleave", { bubbles: true }));
    }
  }
  return shown;
};
"""


def _page(browser: Browser, base: str, psv_plugins: Path) -> tuple[Page, list[str]]:
    page = browser.new_page(viewport={"width": 800, "height": 600})
    dialogs: list[str] = []

    def on_dialog(dialog: object) -> None:
        dialogs.append(getattr(dialog, "message", "?"))
        dialog.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", on_dialog)

    def fulfil(route: Route) -> None:
        path = route.request.url.split("/xss/", 1)[1].split("?")[0]
        if path == "page.html":
            route.fulfill(body=PAGE, content_type="text/html")
            return
        file = psv_plugins / path.removeprefix("psv-plugins/")
        if not path.startswith("psv-plugins/") or not file.is_file():
            route.fulfill(status=404, body="")  # e.g. a payload's <img src=x>
            return
        kind = "text/css" if file.suffix == ".css" else "text/javascript"
        route.fulfill(body=file.read_bytes(), content_type=kind)

    page.route(f"{base}/xss/**", fulfil)
    page.goto(f"{base}/xss/page.html")
    page.add_script_tag(content=FRONT_END)
    return page, dialogs


def _hover_all(page: Page, selector: str) -> None:
    for handle in page.query_selector_all(selector):
        if handle.is_visible():
            handle.hover(force=True, timeout=2000)
            handle.click(force=True, timeout=2000, no_wait_after=True)


def _ran(page: Page, dialogs: list[str]) -> list[str]:
    page.wait_for_timeout(300)  # an <img onerror> fires once its load fails
    ran = page.evaluate("window.__xss === undefined ? [] : [String(window.__xss)]")
    return [f"window.__xss = {v}" for v in ran] + [f"dialog: {d}" for d in dialogs]


@pytest.mark.parametrize("which", ["tour", "alpha", "beta"])
def test_pannellum_configs_run_no_script(
    which: str, site: tuple[str, dict, list[dict]], browser: Browser, psv_plugins: Path
) -> None:
    base, tour, manifests = site
    config = (
        tour["viewers"]["pannellum"]
        if which == "tour"
        else next(m for m in manifests if m["scene"] == which)["viewers"]["pannellum"]
    )
    page, dialogs = _page(browser, base, psv_plugins)
    try:
        hotspots = page.evaluate("(cfg) => pannellumTour(cfg)", config)
        if which == "tour":
            assert hotspots > 0
            _hover_all(page, ".pnlm-hotspot-base")
        assert _ran(page, dialogs) == []
    finally:
        page.close()


def test_marzipano_tool_front_end_runs_no_script(
    site: tuple[str, dict, list[dict]], browser: Browser, psv_plugins: Path
) -> None:
    base, tour, _ = site
    page, dialogs = _page(browser, base, psv_plugins)
    try:
        made = page.evaluate("(data) => marzipanoTour(data)", tour["viewers"]["marzipano"])
        assert made == 2 + 2 * (len(PAYLOADS) + 1)  # the links and the POIs
        _hover_all(page, ".hotspot")
        assert _ran(page, dialogs) == []
    finally:
        page.close()


@pytest.mark.parametrize("flat", [False, True])
def test_psv_virtual_tour_runs_no_script(
    flat: bool, site: tuple[str, dict, list[dict]], browser: Browser,
    psv_plugins: Path,
) -> None:  # fmt: skip
    base, tour, _ = site
    page, dialogs = _page(browser, base, psv_plugins)
    try:
        shown = page.evaluate(
            "([cfg, m]) => psvTour(cfg, m)",
            [tour["viewers"]["photo_sphere_viewer"], flat],
        )
        assert shown >= 6
        _hover_all(page, ".psv-marker")
        assert _ran(page, dialogs) == []
    finally:
        page.close()
