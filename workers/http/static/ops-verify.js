// The ops console's "floors to verify" block: floors never walked through, walked over a
// year ago, or whose scenes changed since (GET /api/floors-to-verify). Text only (textContent).
"use strict";

async function refreshFloorsToVerify() {
  const list = document.getElementById("to-verify");
  try {
    const response = await fetch("/api/floors-to-verify");
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const rows = await response.json();
    const items = rows.map((r) => {
      const li = document.createElement("li");
      li.textContent = `${r.site} / ${r.floor}: ${r.reason}` + (r.by ? ` (last: ${r.last_verified} by ${r.by})` : "");
      return li;
    });
    if (!items.length) {
      const li = document.createElement("li");
      li.textContent = "none";
      li.className = "muted";
      items.push(li);
    }
    list.replaceChildren(...items);
  } catch (error) {
    list.textContent = `could not load: ${error.message}`;
  }
}

refreshFloorsToVerify();
setInterval(refreshFloorsToVerify, 30000);
