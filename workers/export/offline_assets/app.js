// The offline bundle's index: one map per floor drawn as SVG over its plan image, from
// window.PANODOCK_BUNDLE (data.js). No network, no fetch (works from file://). Every text
// from the site's data goes in through textContent or an SVG text node: inert.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const data = window.PANODOCK_BUNDLE;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function symbol(kindId, x, y, r) {
  const kind = data.kinds[kindId] || data.kinds.other;
  const g = svg("g", { class: "poi-symbol", "data-kind": kindId });
  let shape;
  if (kind.shape === "circle") shape = svg("circle", { cx: x, cy: y, r });
  else if (kind.shape === "square") shape = svg("rect", { x: x - r, y: y - r, width: 2 * r, height: 2 * r });
  else {
    const sides = { triangle: 3, diamond: 4, hexagon: 6 }[kind.shape];
    const start = kind.shape === "hexagon" ? 0 : -90;
    const pts = [];
    for (let i = 0; i < sides; i++) {
      const a = ((start + (360 * i) / sides) * Math.PI) / 180;
      pts.push(`${x + r * 1.15 * Math.cos(a)},${y + r * 1.15 * Math.sin(a)}`);
    }
    shape = svg("polygon", { points: pts.join(" ") });
  }
  shape.setAttribute("fill", kind.colour);
  shape.setAttribute("stroke", "#000");
  shape.setAttribute("stroke-width", r / 8);
  g.append(shape);
  const size = r * (kind.code.length === 1 ? 1.1 : kind.code.length === 2 ? 0.85 : 0.62);
  g.append(svg("text", { x, y: y + size * 0.35, "font-size": size, class: "code" }, kind.code));
  return g;
}

function drawFloor(floor) {
  const section = el("section", null, "floor");
  section.id = `floor-${floor.id}`;
  section.append(el("h2", `Building ${floor.building} — floor ${floor.name || floor.floor}`));
  section.append(el("p", floor.verified, "muted"));
  const w = floor.width, h = floor.height;
  const band = Math.max(w, h) * 0.03;
  const r = Math.max(w, h) * 0.011;
  // Below the bottom grid labels: a strip for the scale bar.
  const map = svg("svg", { viewBox: `${-band} ${-band} ${w + 2 * band} ${h + 4 * band}`, class: "map" });
  map.append(svg("image", { href: floor.plan_file, x: 0, y: 0, width: w, height: h }));
  const grid = floor.grid;
  if (grid) {
    const gl = svg("g", { class: "grid" });
    for (let c = 0; c <= grid.columns; c++) {
      const x = Math.min(c * grid.cell_px, w);
      gl.append(svg("line", { x1: x, y1: 0, x2: x, y2: h }));
    }
    for (let row = 0; row <= grid.rows; row++) {
      const y = Math.min(row * grid.cell_px, h);
      gl.append(svg("line", { x1: 0, y1: y, x2: w, y2: y }));
    }
    const fs = band * 0.6;
    for (let c = 0; c < grid.columns; c++) {
      const x = (Math.min(c * grid.cell_px, w) + Math.min((c + 1) * grid.cell_px, w)) / 2;
      gl.append(svg("text", { x, y: -band * 0.3, "font-size": fs, class: "grid-label" }, grid.column_labels[c]));
      gl.append(svg("text", { x, y: h + band * 0.75, "font-size": fs, class: "grid-label" }, grid.column_labels[c]));
    }
    for (let row = 0; row < grid.rows; row++) {
      const y = (Math.min(row * grid.cell_px, h) + Math.min((row + 1) * grid.cell_px, h)) / 2 + fs * 0.35;
      gl.append(svg("text", { x: -band / 2, y, "font-size": fs, class: "grid-label" }, row + 1));
      gl.append(svg("text", { x: w + band / 2, y, "font-size": fs, class: "grid-label" }, row + 1));
    }
    map.append(gl);
  }
  const kinds = new Set();
  for (const poi of data.pois) {
    if (poi.floor !== floor.id || poi.x === null || poi.y === null) continue;
    kinds.add(poi.kind);
    const g = symbol(poi.kind, poi.x, poi.y, r);
    const title = svg("title", {}, `${poi.label || data.kinds[poi.kind].title}${poi.number ? " #" + poi.number : ""} — ${poi.grid || ""} (${poi.source})`);
    g.append(title);
    g.append(svg("text", { x: poi.x + r * 1.4, y: poi.y + r * 0.4, "font-size": r * 1.1, class: "poi-label" }, poi.label || data.kinds[poi.kind].title));
    map.append(g);
  }
  for (const scene of data.scenes) {
    if (scene.floor !== floor.id || scene.x === null) continue;
    const a = svg("a", { href: scene.offline ? `scenes/${encodeURIComponent(scene.scene)}.html` : "#", class: "scene-marker", "data-scene": scene.scene });
    a.append(svg("circle", { cx: scene.x, cy: scene.y, r }));
    a.append(svg("text", { x: scene.x, y: scene.y + r * 0.4, "font-size": r * 1.1 }, scene.number));
    a.append(svg("title", {}, `${scene.number}. ${scene.title} (${scene.grid || ""})`));
    map.append(a);
  }
  map.append(scaleBar(floor, h + 1.6 * band, band));
  section.append(map);
  const side = legend(kinds, grid);
  side.append(northArrow(floor.north_offset_deg));
  section.append(side);
  section.append(listing(floor));
  section.append(sceneListing(floor));
  return section;
}

function scaleBar(floor, y, band) {
  // The longest round length that fits in a quarter of the plan's width.
  const pxPerM = floor.scale_px_per_m;
  const fits = [1, 2, 5, 10, 20, 50, 100, 200, 500].filter((m) => m * pxPerM <= floor.width / 4);
  const metres = fits.length ? fits[fits.length - 1] : 1;
  const length = metres * pxPerM, thick = band * 0.25;
  const g = svg("g", { class: "scale-bar" });
  for (let i = 0; i < 4; i++) {
    g.append(svg("rect", { x: (i * length) / 4, y, width: length / 4, height: thick, class: i % 2 ? "light" : "dark" }));
  }
  const fs = band * 0.5;
  g.append(svg("text", { x: 0, y: y + thick + fs * 1.1, "font-size": fs }, "0"));
  g.append(svg("text", { x: length, y: y + thick + fs * 1.1, "font-size": fs, "text-anchor": "end" }, `${metres} m`));
  g.append(svg("text", { x: length + band * 0.4, y: y + thick, "font-size": fs }, "scale"));
  return g;
}

function documentLinks(cell, items) {
  for (const doc of items) {
    const a = el("a", doc.title, "document");
    a.setAttribute("href", doc.href);
    cell.append(" ", a);
  }
}

function sceneListing(floor) {
  const table = el("table", null, "listing scenes");
  const head = el("tr");
  for (const h of ["No.", "Scene (360° view)", "Cell", "Centre faces", "Notes and documents"]) head.append(el("th", h));
  table.append(head);
  const rows = data.scenes.filter((s) => s.floor === floor.id).sort((a, b) => a.number - b.number);
  for (const s of rows) {
    const tr = el("tr");
    tr.append(el("td", s.number));
    const name = el("td");
    if (s.offline) {
      const a = el("a", s.title, "open-scene");
      a.setAttribute("href", `scenes/${encodeURIComponent(s.scene)}.html`);
      name.append(a);
    } else {
      name.textContent = `${s.title} (not in this bundle)`;
    }
    tr.append(name, el("td", s.grid || "-"));
    tr.append(el("td", s.heading_deg === null ? "unknown" : `${Math.round(s.heading_deg)}° from north`));
    const docs = el("td", s.notes || "");
    documentLinks(docs, s.attachments);
    tr.append(docs);
    table.append(tr);
  }
  return table;
}

function northArrow(degrees) {
  // North lies `degrees` clockwise from plan-up; SVG rotates clockwise with y down.
  const box = svg("svg", { viewBox: "-30 -30 60 60", width: 80, height: 80, class: "north" });
  const g = svg("g", { transform: `rotate(${degrees})` });
  g.append(svg("polygon", { points: "0,-22 8,8 0,2 -8,8" }));
  g.append(svg("text", { x: 0, y: -24, "font-size": 10 }, "N"));
  box.append(g);
  box.append(svg("title", {}, `True north, ${degrees}° clockwise from plan-up`));
  const wrap = el("div", null, "north-box");
  wrap.append(box, el("span", `true north ${Math.round(degrees)}° from plan-up`, "muted"));
  return wrap;
}

function legend(kinds, grid) {
  const box = el("div", null, "legend");
  box.append(el("h3", "Legend"));
  if (grid) box.append(el("p", `Grid: letters across, numbers down; cells ${grid.cell_m} m`, "muted"));
  const items = [["scene", "Scene (360° view): click to open"], ...[...kinds].map((k) => [k, data.kinds[k].title])];
  for (const [kind, text] of items) {
    const row = el("div", null, "legend-row");
    const icon = svg("svg", { viewBox: "-10 -10 20 20", width: 22, height: 22 });
    if (kind === "scene") {
      icon.append(svg("circle", { cx: 0, cy: 0, r: 8, class: "legend-scene" }));
    } else {
      icon.append(symbol(kind, 0, 0, 7));
    }
    row.append(icon, el("span", text));
    box.append(row);
  }
  return box;
}

function listing(floor) {
  const table = el("table", null, "listing");
  const head = el("tr");
  for (const h of ["Cell", "Kind", "Label", "No.", "Position", "Notes and documents"]) head.append(el("th", h));
  table.append(head);
  const rows = data.pois.filter((p) => p.floor === floor.id);
  rows.sort((a, b) => String(a.grid || "~").localeCompare(String(b.grid || "~"), undefined, { numeric: true }));
  for (const p of rows) {
    const tr = el("tr");
    const where = p.x === null ? "not placed" : `${p.source}${p.accuracy_m !== null ? " ±" + p.accuracy_m.toFixed(1) + " m" : ""}`;
    for (const v of [p.grid || "-", data.kinds[p.kind].title, p.label || "", p.number || "", where]) tr.append(el("td", v));
    const docs = el("td", p.notes || "");
    documentLinks(docs, p.attachments);
    tr.append(docs);
    table.append(tr);
  }
  return table;
}

document.getElementById("site-name").textContent = `${data.name}: floor maps`;
document.getElementById("generated").textContent = `Generated ${data.generated_at.slice(0, 16).replace("T", " ")} UTC by panodock`;
const tabs = document.getElementById("floor-tabs");
for (const floor of data.floors) {
  const a = el("a", `${floor.building} / ${floor.name || floor.floor}`);
  a.href = `#floor-${floor.id}`;
  tabs.append(a);
  document.getElementById("floors").append(drawFloor(floor));
}
document.body.dataset.ready = "yes";
