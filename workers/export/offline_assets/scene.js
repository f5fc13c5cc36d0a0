// One scene of the offline bundle in Pannellum: cube faces from window.PANODOCK_SCENE
// (data: URLs, so WebGL takes them from file://), hotspots for its points of interest and
// links. Sidecar text reaches Pannellum as plain text: escapeHTML is set at the TOP level.
"use strict";

const bundle = window.PANODOCK_BUNDLE;
const own = window.PANODOCK_SCENE;
const scene = bundle.scenes.find((s) => s.scene === own.scene);
document.getElementById("title").textContent = `${scene.number}. ${scene.title}`;
document.getElementById("where").textContent = scene.grid ? `cell ${scene.grid}` : "";
const hotSpots = [];
for (const poi of bundle.pois) {
  for (const seen of poi.scenes) {
    if (seen.scene !== scene.scene) continue;
    const title = bundle.kinds[poi.kind].title;
    hotSpots.push({ type: "info", yaw: seen.yaw_deg, pitch: seen.pitch_deg, text: `${title}: ${poi.label || ""}` });
  }
}
for (const link of scene.links) {
  const target = bundle.scenes.find((s) => s.scene === link.to);
  if (!target || !target.offline) continue;
  hotSpots.push({
    type: "scene", yaw: link.yaw, pitch: link.pitch, text: `${target.number}. ${target.title}`,
    clickHandlerFunc: () => { window.location.href = `${encodeURIComponent(target.scene)}.html`; },
  });
}
window.viewer = pannellum.viewer("pano", {
  type: "cubemap",
  cubeMap: own.faces,
  autoLoad: true,
  escapeHTML: true,
  showControls: true,
  northOffset: scene.heading_deg || 0,
  hotSpots,
});
