// Keeps a page current: every job event that concerns it (the page names
// its event filter in data-live) reloads the page's main part from the
// server, at most a few times a second. Rendering stays on the server,
// where every text is escaped.
(function () {
  "use strict";
  var main = document.getElementById("main");
  if (!main || !main.dataset.live || !window.EventSource) {
    return;
  }
  var pending = null;
  var inflight = false;
  function refresh() {
    pending = null;
    if (inflight) {
      pending = setTimeout(refresh, 250);
      return;
    }
    inflight = true;
    fetch(window.location.href, { headers: { "X-Kiln-Partial": "1" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        main.innerHTML = html;
        main.dataset.refreshed = String(Number(main.dataset.refreshed || "0") + 1);
      })
      .catch(function () {})
      .then(function () { inflight = false; });
  }
  function schedule() {
    if (pending === null) {
      pending = setTimeout(refresh, 250);
    }
  }
  var source = new EventSource("/v1/events?" + main.dataset.live);
  source.addEventListener("job", schedule);
  source.addEventListener("gap", schedule);
  source.addEventListener("progress", schedule);
  source.addEventListener("open", function () { main.dataset.live_connected = "1"; });
})();
