// renkei: the little the pages do in the browser. Everything works without it.
"use strict";

// A file upload shows its progress while the file is sent (issue 15: bulk loading).
document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-progress]")) {
    form.addEventListener("submit", () => {
      const bar = document.getElementById(form.dataset.progress);
      if (bar) bar.hidden = false;
    });
  }
});

// A bulk load's page follows its progress, then shows its outcome (issue 15). Without the
// script, the page's link shows the latest state.
document.addEventListener("DOMContentLoaded", () => {
  const status = document.querySelector("[data-poll]");
  if (!status) return;
  const bar = status.querySelector("progress");
  const lines = status.querySelector("[aria-live]");
  const poll = async () => {
    try {
      const r = await fetch(status.dataset.poll, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!r.ok) return;
      const p = await r.json();
      if (bar) { bar.max = Math.max(p.total, 1); bar.value = p.bytes; }
      if (lines) lines.textContent = p.lines + "行を読みました。";
      if (p.done) { window.location.reload(); return; }
    } catch (_) { /* the next poll tries again */ }
    setTimeout(poll, 500);
  };
  setTimeout(poll, 300);
});
