// The page of a share link: the site's floors, their scenes and points of interest, read
// from tour.json through this share's own object route. Every text is set as text.
// window.panodockShare.state goes "loading" -> "ready" (or "error").

const BASE = location.pathname.replace(/\/+$/, "") + "/";
const status = (window.panodockShare = { state: "loading", scenes: [], error: null });

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

async function getJson(path) {
  const response = await fetch(BASE + path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function sceneItem(site, scene, pois) {
  const li = el("li");
  const link = el("a");
  link.href = `${BASE}scene/${encodeURIComponent(site)}/${encodeURIComponent(scene.scene)}`;
  link.dataset.scene = scene.scene;
  if (scene.thumb) {
    const img = el("img");
    img.src = BASE + "objects/" + scene.thumb;
    img.alt = "";
    link.append(img);
  }
  link.append(el("span", scene.title || scene.scene));
  li.append(link);
  const mine = pois.filter((p) => p.scene === scene.scene);
  if (mine.length) {
    const ul = el("ul", null, "pois");
    for (const p of mine) ul.append(el("li", p.label ? `${p.kind}: ${p.label}` : p.kind));
    li.append(ul);
  }
  return li;
}

async function main() {
  const share = await getJson("share.json");
  document.getElementById("title").textContent = `${share.site} — shared with ${share.label}`;
  const until = new Date(share.expires_at);
  document.getElementById("expires").textContent = `link valid until ${until.toLocaleString(
    undefined, { dateStyle: "medium", timeStyle: "short" })}`;
  const tour = await getJson(`objects/sites/${share.site}/tour.json`);
  const root = document.getElementById("floors");
  const pois = tour.points_of_interest || [];
  const floors = [...(tour.floors || []), { id: null, name: "Not on a floor plan" }];
  for (const floor of floors) {
    const scenes = tour.scenes.filter((s) => (s.position && s.position.floor) === floor.id ||
      (floor.id === null && !(s.position && s.position.floor)));
    if (!scenes.length) continue;
    const section = el("section");
    section.append(el("h2", floor.name || floor.id));
    if (floor.plan && floor.plan.key) {
      const plan = el("img", null, "plan");
      plan.src = BASE + "objects/" + floor.plan.key;
      plan.alt = `plan of ${floor.name || floor.id}`;
      section.append(plan);
    }
    const ul = el("ul", null, "scenes");
    for (const scene of scenes) ul.append(sceneItem(share.site, scene, pois));
    section.append(ul);
    root.append(section);
    status.scenes.push(...scenes.map((s) => s.scene));
  }
  status.state = "ready";
  document.getElementById("state").textContent = "";
}

main().catch((error) => {
  status.state = "error";
  status.error = String(error && error.message ? error.message : error);
  document.getElementById("state").textContent = status.error;
});
