// The ops console: polls /api/status every two seconds and draws it; actions POST with the
// token typed in the header (kept in sessionStorage, never in the page's URL).

const REFRESH_MS = 2000;
const tokenInput = document.getElementById("token");
tokenInput.value = sessionStorage.getItem("panodock-token") || "";
tokenInput.addEventListener("change", () =>
  sessionStorage.setItem("panodock-token", tokenInput.value),
);

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function row(cells) {
  const tr = el("tr");
  for (const cell of cells) {
    if (cell instanceof Node) {
      const td = el("td");
      td.append(cell);
      tr.append(td);
    } else {
      tr.append(el("td", cell, typeof cell === "number" ? "num" : ""));
    }
  }
  return tr;
}

function fill(id, rows) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren(...rows);
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 90) return `${seconds.toFixed(1)} s`;
  if (seconds < 5400) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

async function act(url, label) {
  const response = await fetch(url, {
    method: "POST",
    // Without a typed token the session cookie (from /login) is the credential.
    headers: tokenInput.value ? { Authorization: `Bearer ${tokenInput.value}` } : {},
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(`${label}: ${body.detail || response.status}`);
  return body;
}

function retryButton(capture) {
  const button = el("button", "Retry");
  button.dataset.capture = capture.id;
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await act(`/api/captures/${capture.id}/retry`, `retry ${capture.id.slice(0, 12)}`);
      setState(`capture ${capture.id.slice(0, 12)} queued again`);
    } catch (error) {
      setState(error.message, true);
      button.disabled = false;
    }
    refresh();
  });
  return button;
}

function thumb(src, what) {
  const img = el("img", null, "thumb");
  img.src = src;
  img.alt = `thumbnail of ${what}`;
  img.loading = "lazy";
  img.addEventListener("error", () => img.replaceWith(el("span", "no image", "muted thumb")));
  return img;
}

function setState(text, bad) {
  const state = document.getElementById("state");
  state.textContent = text;
  document.body.dataset.state = bad ? "error" : "ok";
}

function drawChart(perMinute) {
  const canvas = document.getElementById("chart");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const top = Math.max(1, ...perMinute);
  const w = canvas.width / perMinute.length;
  ctx.fillStyle = "#3b7dd8";
  perMinute.forEach((n, i) => {
    const h = (n / top) * (canvas.height - 14);
    ctx.fillRect(i * w, canvas.height - h, Math.max(1, w - 1), h);
  });
  ctx.fillStyle = "#6b7580";
  ctx.fillText(`max ${top}/min`, 4, 10);
}

function draw(s) {
  const q = s.queue;
  fill("queue", [row([q.ready, q.delayed, q.in_flight, q.stranded, q.dead, age(q.oldest_ready_seconds)])]);
  fill("workers", s.workers.map((w) => row([w.host, w.pid, w.threads, age(w.beat_age_seconds)])));
  document.getElementById("watchers").textContent = s.watchers.length
    ? s.watchers
        .map((w) => (w.kind === undefined
          ? `watcher ${w.name}: ${w.scans} scans, ${w.overflows} overflows, ${w.errors} errors`
            + (w.paused ? ` — INTAKE PAUSED: ${w.paused.message}` : "")
          // A capture source (card, share, camera): online or why not, and what it imported.
          : `${w.kind} source ${w.name.replace(/^source:/, "")}: `
            + `${w.online ? "online" : "OFFLINE"} (${w.detail}), ${w.files_imported} imported, `
            + `${w.files_pending} pending, ${w.errors} errors`))
        .join("; ")
    : "no watcher reports its health";
  fill("captures", Object.entries(s.captures).map(([state, n]) => row([state, n])));
  const a = s.activity;
  drawChart(a.per_minute);
  // Failed and quarantined apart, as the captures table counts them.
  document.getElementById("rates").textContent =
    `${a.published} published, ${a.failed} failed, ${a.quarantined} quarantined, ` +
    `${a.retries} retried attempts; ${a.throughput_per_minute.toFixed(2)}/min, ` +
    `error rate (failed + quarantined) ${(a.error_rate * 100).toFixed(1)} %, ` +
    `retry rate ${(a.retry_rate * 100).toFixed(1)} %`;
  fill("stages", Object.entries(a.stage_seconds).map(([k, v]) => row([k, v.n, v.p50, v.p95])));
  fill(
    "failures",
    s.recent_failures.map((c) => {
      const reason = el("div");
      reason.append(el("span", c.reason, "reason"));
      if (c.superseded_by) reason.append(el("div", c.superseded_by.message, "superseded"));
      const tr = row([thumb(`/api/captures/${c.id}/thumb.jpg`, c.id), c.id.slice(0, 12), c.state,
        c.source, reason, retryButton(c)]);
      tr.dataset.capture = c.id;
      if (c.superseded_by) tr.dataset.superseded = c.superseded_by.id;
      return tr;
    }),
  );
  const folders = (s.pending_folders || []).map((f) => el("li", `${f.folder} (${f.files} file(s)): ${f.message}`));
  document.getElementById("pending-folders").replaceChildren(
    ...(folders.length ? folders : [el("li", "none", "muted")]),
  );
  const placement = Object.entries(s.needs_placement).flatMap(([site, scenes]) =>
    scenes.map((scene) => el("li", `${site} / ${scene}`)),
  );
  document.getElementById("placement").replaceChildren(...(placement.length ? placement : [el("li", "none", "muted")]));
  document.getElementById("scenes").replaceChildren(
    ...s.scenes.map(({ site, scene, thumb: key }) => {
      const li = el("li");
      const a = el("a", `${site} / ${scene}`);
      a.href = `/scene/${encodeURIComponent(site)}/${encodeURIComponent(scene)}`;
      if (key) li.append(thumb(`/objects/${key}`, `${site}/${scene}`));
      li.append(a);
      return li;
    }),
  );
}

async function refresh() {
  try {
    const response = await fetch("/api/status");
    if (!response.ok) throw new Error(`status: HTTP ${response.status}`);
    draw(await response.json());
    document.body.dataset.loaded = "yes";
  } catch (error) {
    setState(error.message, true);
  }
}

document.getElementById("requeue-dead").addEventListener("click", async () => {
  try {
    const body = await act("/api/dead/requeue", "re-queue dead letters");
    document.getElementById("requeue-result").textContent = `${body.requeued.length} re-queued`;
  } catch (error) {
    setState(error.message, true);
  }
  refresh();
});

refresh();
setInterval(refresh, REFRESH_MS);
