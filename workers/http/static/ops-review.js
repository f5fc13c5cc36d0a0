// The ops console's review queue: scenes held for a person (GET /api/review), each with its
// thumbnail and the checks that warned; "View" opens the unpublished version in Pannellum
// (its tiles through /api/review/<capture>/tiles, operators only) beside its equirect with
// the detected face boxes drawn over it; Approve / Reject / Fix POST with the console's
// credential. Text from captures reaches the page only through textContent.
"use strict";

const REVIEW_REFRESH_MS = 3000;
const review = (window.panodockReview = { ids: null, viewer: null, open: null });

function reviewEl(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

async function reviewPost(url, body, label) {
  const typed = document.getElementById("token").value;
  const headers = { "Content-Type": "application/json" };
  if (typed) headers.Authorization = `Bearer ${typed}`;
  const response = await fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(`${label}: ${answer.detail || response.status}`);
  return answer;
}

function reviewSay(text, bad) {
  const state = document.getElementById("state");
  state.textContent = text;
  document.body.dataset.state = bad ? "error" : "ok";
}

async function reviewAct(item, action, body) {
  const short = item.capture.slice(0, 12);
  try {
    await reviewPost(`/api/review/${item.capture}/${action}`, body, `${action} ${short}`);
    const done = { approve: "approved: it is live", reject: "rejected", fix: "queued with the fix" };
    reviewSay(`capture ${short} ${done[action]}`);
    if (review.open === item.capture) closeReview();
    review.ids = null;  // redraw at once
    refreshReview();
  } catch (error) {
    reviewSay(error.message, true);
  }
}

function warnedChecks(item) {
  const list = reviewEl("ul", null, "checks");
  const doubtful = item.checks.filter((c) => c.verdict !== "ok");
  for (const c of doubtful.length ? doubtful : [{ name: "policy", message: item.reason }]) {
    const li = reviewEl("li", null, `check ${c.verdict || "warn"}`);
    li.append(reviewEl("b", c.name), document.createTextNode(`: ${c.message}`));
    list.append(li);
  }
  return list;
}

function reviewRow(item) {
  const tr = reviewEl("tr");
  tr.dataset.capture = item.capture;
  const thumb = reviewEl("img", null, "thumb");
  thumb.src = item.thumb;
  thumb.alt = `thumbnail of ${item.site}/${item.scene}`;
  const scene = reviewEl("td");
  scene.append(reviewEl("div", `${item.site} / ${item.scene}`),
    reviewEl("div", `capture ${item.capture.slice(0, 12)}, version ${item.version}`, "muted"));
  const note = reviewEl("input");
  note.name = "note";
  note.placeholder = "note, or the reason to reject";
  const buttons = reviewEl("td", null, "actions");
  const view = reviewEl("button", "View");
  view.addEventListener("click", () => openReview(item));
  const approve = reviewEl("button", "Approve");
  approve.addEventListener("click", () => reviewAct(item, "approve", { note: note.value || null }));
  const reject = reviewEl("button", "Reject");
  reject.addEventListener("click", () => {
    if (!note.value.trim()) return reviewSay("say why in the note field to reject", true);
    reviewAct(item, "reject", { reason: note.value });
  });
  buttons.append(note, view, approve, reject);
  const cells = [thumb, scene, warnedChecks(item)];
  for (const cell of cells) {
    const td = cell.tagName === "TD" ? cell : reviewEl("td");
    if (td !== cell) td.append(cell);
    tr.append(td);
  }
  tr.append(reviewEl("td", new Date(item.held_at).toLocaleString(), "muted"), buttons);
  return tr;
}

function drawFaces(box, faces) {
  box.replaceChildren(...faces.faces.map((f) => {
    // Published equirect frame: yaw -180..180 left to right, pitch 90..-90 top to bottom.
    const mark = reviewEl("div", null, `face ${f.source}`);
    mark.style.left = `${((f.yaw_deg - f.width_deg / 2 + 180) / 360) * 100}%`;
    mark.style.top = `${((90 - f.pitch_deg - f.height_deg / 2) / 180) * 100}%`;
    mark.style.width = `${(f.width_deg / 360) * 100}%`;
    mark.style.height = `${(f.height_deg / 180) * 100}%`;
    mark.title = `${f.source} ${f.score.toFixed(2)}`;
    return mark;
  }));
}

async function openReview(item) {
  closeReview();
  review.open = item.capture;
  const detail = document.getElementById("review-detail");
  detail.hidden = false;
  detail.dataset.capture = item.capture;
  document.getElementById("review-title").textContent =
    `${item.site} / ${item.scene} — version ${item.version} (not live)`;
  const image = document.querySelector("#review-equirect img");
  image.src = item.equirect;
  const fix = document.getElementById("review-fix");
  for (const [name, value] of Object.entries(item.overrides || {})) {
    if (fix.elements[name]) fix.elements[name].value = value;
  }
  try {
    const [manifest, faces] = await Promise.all([
      fetch(item.scene_json).then((r) => (r.ok ? r.json() : Promise.reject(new Error(`scene.json: HTTP ${r.status}`)))),
      fetch(item.faces).then((r) => (r.ok ? r.json() : { faces: [] })),
    ]);
    drawFaces(document.querySelector("#review-equirect .faces"), faces);
    document.getElementById("review-faces").textContent =
      `${faces.faces.length} face box(es) found by the detector`;
    const cfg = manifest.viewers.pannellum;
    review.viewer = pannellum.viewer(document.getElementById("review-viewer"), {
      ...cfg,
      multiRes: { ...cfg.multiRes, basePath: item.viewer },
      autoLoad: true,
      showControls: true,
      hfov: 100,
    });
    detail.dataset.viewer = "loading";
    const poll = setInterval(() => {
      if (review.open !== item.capture) return clearInterval(poll);
      if (review.viewer && review.viewer.isLoaded()) {
        clearInterval(poll);
        detail.dataset.viewer = "ready";
      }
    }, 100);
  } catch (error) {
    reviewSay(error.message, true);
  }
}

function closeReview() {
  if (review.viewer) review.viewer.destroy();
  review.viewer = null;
  review.open = null;
  const detail = document.getElementById("review-detail");
  detail.hidden = true;
  delete detail.dataset.viewer;
}

document.getElementById("review-close").addEventListener("click", closeReview);
document.getElementById("review-fix").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  const number = (name) => (form.elements[name].value.trim() === "" ? null : Number(form.elements[name].value));
  const blur = form.elements.blur.value.split(";").map((s) => s.trim()).filter(Boolean).map((s) => {
    const [yaw_deg, pitch_deg, width_deg, height_deg] = s.split(",").map(Number);
    return { yaw_deg, pitch_deg, width_deg, height_deg };
  });
  const body = {
    pitch_deg: number("pitch_deg"), roll_deg: number("roll_deg"),
    heading_deg: number("heading_deg"), lens: form.elements.lens.value.trim() || null, blur,
  };
  const item = { capture: document.getElementById("review-detail").dataset.capture };
  reviewAct(item, "fix", body);
});

async function refreshReview() {
  try {
    const response = await fetch("/api/review");
    if (!response.ok) throw new Error(`review: HTTP ${response.status}`);
    const { items } = await response.json();
    document.getElementById("review-count").textContent = `${items.length} held`;
    const ids = items.map((i) => i.capture).join(",");
    if (ids === review.ids) return;  // unchanged: keep what the operator is typing
    review.ids = ids;
    const body = document.querySelector("#review tbody");
    if (items.length) return body.replaceChildren(...items.map(reviewRow));
    const empty = reviewEl("td", "nothing waits for review", "muted");
    empty.colSpan = 5;
    const tr = reviewEl("tr");
    tr.append(empty);
    body.replaceChildren(tr);
  } catch (error) {
    reviewSay(error.message, true);
  }
}

refreshReview();
setInterval(refreshReview, REVIEW_REFRESH_MS);
