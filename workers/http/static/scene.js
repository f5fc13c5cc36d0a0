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
    maxHfov: Math.min(140, cfg.maxHfov ?? 140), // a partial scene's config narrows it
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
  const limiter = Marzipano.util.compose(
    Marzipano.RectilinearView.limit.traditional(cfg.faceSize, 140 * DEG),
    coverageLimiter(cfg.viewLimits),
  );
  // Marzipano: radians, pitch + is down, fov vertical. At a yaw that is exactly a multiple
  // of 45 deg (the default yaw 0 above all) it leaves the side faces' tiles undrawn in a
  // window wide enough to show them (bands and holes at 1280x800, not at 800x800), though
  // it loads them; measured with SwiftShader and llvmpipe alike. A yaw nudge of 0.06 deg,
  // under a pixel, draws them (a pitch nudge does not).
  const nudge = 1e-3;
  const view = new Marzipano.RectilinearView(
    { yaw: v.yaw * DEG + nudge, pitch: -v.pitch * DEG, fov: v.vfov * DEG },
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

// A partial scene's viewLimits (radians, Marzipano's pitch + down): keep the view's edges
// inside them, narrowing the fov first when the range is smaller than the view.
function coverageLimiter(limits) {
  return (p) => {
    if (!limits || !(p.width > 0 && p.height > 0)) return p;
    const aspect = p.width / p.height;
    if (limits.pitch) {
      const [lo, hi] = limits.pitch;
      p.fov = Math.min(p.fov, hi - lo);
      p.pitch = Math.min(Math.max(p.pitch, lo + p.fov / 2), hi - p.fov / 2);
    }
    if (limits.yaw) {
      const [lo, hi] = limits.yaw;
      let hfov = 2 * Math.atan(Math.tan(p.fov / 2) * aspect);
      if (hfov > hi - lo) {
        hfov = hi - lo;
        p.fov = 2 * Math.atan(Math.tan(hfov / 2) / aspect);
      }
      const mid = (lo + hi) / 2;
      const off = ((((p.yaw - mid + Math.PI) % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI)) - Math.PI;
      const room = (hi - lo - hfov) / 2;
      p.yaw = mid + Math.min(Math.max(off, -room), room);
    }
    return p;
  };
}

// A partial scene's visibleRange (PSV VisibleRangePlugin's options, radians, pitch + up):
// the position nearest to `pos` whose view edges stay inside it at vertical fov `vfov`.
function psvInRange(range, pos, vfov, aspect) {
  if (!range) return pos;
  const out = { ...pos };
  if (range.verticalRange) {
    const [lo, hi] = range.verticalRange;
    const half = Math.min(vfov, hi - lo) / 2;
    out.pitch = Math.min(Math.max(pos.pitch, lo + half), hi - half);
  }
  if (range.horizontalRange) {
    const [lo, hi] = range.horizontalRange;
    const half = Math.min(2 * Math.atan(Math.tan(vfov / 2) * aspect), hi - lo) / 2;
    const mid = (lo + hi) / 2;
    const off = ((((pos.yaw - mid + Math.PI) % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI)) - Math.PI;
    out.yaw = mid + Math.min(Math.max(off, -(hi - lo) / 2 + half), (hi - lo) / 2 - half);
  }
  return out;
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
  const maxFov = Math.min(120, cfg.maxFov ?? 120); // a partial scene's config narrows it
  const minFov = Math.min(30, maxFov - 1);
  // PSV's zoom level maps linearly to the vertical fov, maxFov at 0 and minFov at 100.
  const vfov = Math.min(Math.max(v.vfov, minFov), maxFov);
  const zoom = ((maxFov - vfov) / (maxFov - minFov)) * 100;
  const fovOf = (level) => (maxFov - (level / 100) * (maxFov - minFov)) * DEG;
  const aspect = el.clientWidth / el.clientHeight;
  const start = psvInRange(cfg.visibleRange, { yaw: v.yaw * DEG, pitch: v.pitch * DEG }, vfov * DEG, aspect);
  const viewer = new Viewer({
    container: el,
    adapter: CubemapTilesAdapter,
    panorama: { levels: p.levels, tileUrl, flipTopBottom: p.flipTopBottom },
    sphereCorrection: cfg.sphereCorrection,
    defaultYaw: start.yaw,
    defaultPitch: start.pitch,
    defaultZoomLvl: zoom,
    minFov,
    maxFov,
    navbar: false,
    loadingTxt: "",
  });
  if (cfg.visibleRange) {
    const keep = () => {
      const now = viewer.getPosition();
      const fit = psvInRange(cfg.visibleRange, now, fovOf(viewer.getZoomLevel()), aspect);
      if (Math.abs(fit.yaw - now.yaw) > 1e-6 || Math.abs(fit.pitch - now.pitch) > 1e-6) {
        viewer.rotate(fit);
      }
    };
    viewer.addEventListener("position-updated", keep);
    viewer.addEventListener("zoom-updated", keep);
  }
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
