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
