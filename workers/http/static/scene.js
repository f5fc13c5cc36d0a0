// The scene page: one published scene in Pannellum, Marzipano or Photo Sphere Viewer.
//
// It reads only published objects, as a downstream front end would: current.json, then the
// scene.json it names, then the viewer config in scene.json, unchanged, with "/objects/" as
// the public bucket URL (or "/s/<token>/objects/" on a share link's page). Query: ?viewer=pannellum|marzipano|psv&yaw=&pitch=&vfov= (degrees;
// yaw + right, pitch + up, vfov vertical), converted here to each viewer's own conventions.
// window.panodockScene.state goes "loading" -> "ready" (or "error") for tests and scripts.

const SHARE = location.pathname.match(/^\/s\/([^/]+)\//);
const BUCKET = SHARE ? `/s/${SHARE[1]}/objects/` : "/objects/";
const DEG = Math.PI / 180;
const status = (window.panodockScene = { state: "loading", viewer: null, error: null });

function setState(state, text) {
  status.state = state;
  document.getElementById("state").textContent = text;
  document.body.dataset.state = state;
}

async function getJson(key) {
  const response = await fetch(BUCKET + key);
  if (!response.ok) throw new Error(`${key}: HTTP ${response.status}`);
  return response.json();
}

function pannellumView(el, cfg, v) {
  const aspect = el.clientWidth / el.clientHeight;
  const hfov = (2 * Math.atan(Math.tan((v.vfov * DEG) / 2) * aspect)) / DEG;
  const multiRes = { ...cfg.multiRes, basePath: BUCKET + cfg.multiRes.basePath };
  const viewer = pannellum.viewer(el, {
    ...cfg,
    multiRes,
    autoLoad: true,
    showControls: false,
    yaw: v.yaw,
    pitch: v.pitch,
    hfov,
    minHfov: 10,
    maxHfov: 140,
  });
  // Pannellum fires "load" inside pannellum.viewer(), before a listener can be added.
  return new Promise((resolve) => {
    const poll = setInterval(() => {
      if (viewer.isLoaded()) {
        clearInterval(poll);
        resolve(viewer);
      }
    }, 50);
  });
}

function marzipanoView(el, cfg, v) {
  const viewer = new Marzipano.Viewer(el);
  const source = Marzipano.ImageUrlSource.fromString(BUCKET + cfg.urlTemplate, {
    cubeMapPreviewUrl: BUCKET + cfg.cubeMapPreviewUrl,
  });
  const geometry = new Marzipano.CubeGeometry(cfg.levels);
  const limiter = Marzipano.RectilinearView.limit.traditional(cfg.faceSize, 140 * DEG);
  // Marzipano: radians, pitch + is down, fov vertical.
  const view = new Marzipano.RectilinearView(
    { yaw: v.yaw * DEG, pitch: -v.pitch * DEG, fov: v.vfov * DEG },
    limiter,
  );
  const scene = viewer.createScene({ source, geometry, view, pinFirstLevel: true });
  scene.switchTo({ transitionDuration: 0 });
  return new Promise((resolve) => {
    viewer.stage().addEventListener("renderComplete", (stable) => {
      if (stable) resolve(viewer);
    });
  });
}

async function psvView(el, cfg, v) {
  const { Viewer } = await import("@photo-sphere-viewer/core");
  const { CubemapTilesAdapter } = await import("@photo-sphere-viewer/cubemap-tiles-adapter");
  const p = cfg.panorama;
  const tileUrl = (face, col, row, level) =>
    BUCKET +
    p.tileUrlTemplate
      .replace("{level}", level + p.levelOffset)
      .replace("{face}", p.faces[face])
      .replace("{row}", row)
      .replace("{col}", col);
  const minFov = 30;
  const maxFov = 120;
  // PSV's zoom level maps linearly to the vertical fov, maxFov at 0 and minFov at 100.
  const zoom = ((maxFov - v.vfov) / (maxFov - minFov)) * 100;
  const viewer = new Viewer({
    container: el,
    adapter: CubemapTilesAdapter,
    panorama: { levels: p.levels, tileUrl, flipTopBottom: p.flipTopBottom },
    sphereCorrection: cfg.sphereCorrection,
    defaultYaw: v.yaw * DEG,
    defaultPitch: v.pitch * DEG,
    defaultZoomLvl: zoom,
    minFov,
    maxFov,
    navbar: false,
    loadingTxt: "",
  });
  return new Promise((resolve, reject) => {
    viewer.addEventListener("panorama-loaded", () => resolve(viewer), { once: true });
    viewer.addEventListener("panorama-error", (e) => reject(e.error), { once: true });
  });
}

const VIEWERS = { pannellum: pannellumView, marzipano: marzipanoView, psv: psvView };
const CONFIG_NAMES = {
  pannellum: "pannellum",
  marzipano: "marzipano",
  psv: "photo_sphere_viewer",
};

async function main() {
  const parts = location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  const at = parts.indexOf("scene");
  const [site, scene] = parts.slice(at + 1, at + 3);
  const query = new URLSearchParams(location.search);
  const which = query.get("viewer") || "pannellum";
  const view = {
    yaw: Number(query.get("yaw") || 0),
    pitch: Number(query.get("pitch") || 0),
    vfov: Number(query.get("vfov") || 70),
  };
  status.viewer = which;
  for (const link of document.querySelectorAll("#viewers a")) {
    const q = new URLSearchParams(query);
    q.set("viewer", link.dataset.viewer);
    link.href = `${location.pathname}?${q}`;
    link.classList.toggle("active", link.dataset.viewer === which);
  }
  if (!(which in VIEWERS)) throw new Error(`unknown viewer ${which}`);
  const pointer = await getJson(`scenes/${site}/${scene}/current.json`);
  const manifest = await getJson(pointer.manifest);
  document.getElementById("title").textContent =
    `${manifest.site} / ${manifest.scene}  version ${manifest.version}`;
  await VIEWERS[which](document.getElementById("pano"), manifest.viewers[CONFIG_NAMES[which]], view);
  setState("ready", `${which}: loaded`);
}

main().catch((error) => {
  status.error = String(error && error.message ? error.message : error);
  setState("error", status.error);
});
