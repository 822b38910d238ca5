// dossier's web page: the little it needs beyond HTML. The pages work without it.
// - "/" focuses the search field, where a page has one.
// - Live updates: the page follows /live (Server-Sent Events, signed in by the page's cookie)
//   from the seq it was rendered at. When records arrive, a banner says how many, with a link
//   to reload; the status page and the beliefs page, when they show "now", also refresh their
//   content in place (fetched from the server, as rendered for this reader).
"use strict";
document.addEventListener("keydown", (e) => {
  if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement) return;
  const q = document.getElementById("q");
  if (q) { e.preventDefault(); q.focus(); }
});

(() => {
  const body = document.body;
  const seq = body.dataset.seq;
  const banner = document.getElementById("live");
  if (!seq || !banner || typeof EventSource === "undefined") return;
  const inPlace = body.dataset.live === "now" &&
    (location.pathname === "/status" || location.pathname === "/beliefs");
  let records = 0;
  let changes = 0;
  let refreshing = false;
  let again = false;

  function show() {
    const words = records === 1 ? "1 new record" : `${records} new records`;
    const more = changes > 0 ? ` (${changes} change${changes === 1 ? "" : "s"} of belief)` : "";
    banner.replaceChildren(document.createTextNode(`${words}${more} since this page was shown. `));
    const a = document.createElement("a");
    a.href = location.href;
    a.textContent = "Refresh";
    banner.append(a);
    banner.hidden = false;
  }

  // Replaces the page's main content with the server's current rendering of it.
  async function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    try {
      const r = await fetch(location.href, { credentials: "same-origin", cache: "no-store" });
      if (!r.ok) return;
      const doc = new DOMParser().parseFromString(await r.text(), "text/html");
      const fresh = doc.querySelector("main");
      const main = document.querySelector("main");
      if (!fresh || !main) return;
      main.replaceChildren(...Array.from(fresh.childNodes).map((n) => document.importNode(n, true)));
      if (doc.body.dataset.seq) body.dataset.seq = doc.body.dataset.seq;
      body.dataset.refreshed = String(Number(body.dataset.refreshed || 0) + 1);
      banner.replaceChildren(document.createTextNode(`Updated with ${records} new record${records === 1 ? "" : "s"}.`));
      banner.hidden = false;
    } finally {
      refreshing = false;
      if (again) { again = false; refresh(); }
    }
  }

  const source = new EventSource(`/live?after=${encodeURIComponent(seq)}`);
  source.addEventListener("records", (e) => {
    let d;
    try { d = JSON.parse(e.data); } catch { return; }
    records += Number(d.records) || 0;
    changes += Number(d.changes) || 0;
    if (inPlace) refresh(); else show();
  });
  source.addEventListener("error", () => {
    // The stream ended (signed out, or the service stopped): do not retry forever.
    if (source.readyState === EventSource.CLOSED) banner.hidden = true;
  });
  window.addEventListener("pagehide", () => source.close());
})();
