// dossier's web page: the little it needs beyond HTML. The pages work without it.
// "/" focuses the search field, where a page has one.
"use strict";
document.addEventListener("keydown", (e) => {
  if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement) return;
  const q = document.getElementById("q");
  if (q) { e.preventDefault(); q.focus(); }
});
