// The dashboard's router: the part of the URL after "#" names a page and its
// query ("#/sources?eta_min=2"); each page renders into a fresh section, so a
// page still loading when the user moves on writes into a detached element.

import { ApiError } from "./api.js";
import * as auth from "./auth.js";
import { errorBox, fill, h } from "./dom.js";
import * as cal from "./pages/cal.js";
import * as candidates from "./pages/candidates.js";
import * as groups from "./pages/groups.js";
import * as images from "./pages/images.js";
import * as jobs from "./pages/jobs.js";
import * as mosaics from "./pages/mosaics.js";
import * as ms from "./pages/ms.js";
import * as overview from "./pages/overview.js";
import * as sources from "./pages/sources.js";

// [pattern, page renderer, nav entry]; a pattern's groups are the renderer's params.
const ROUTES = [
  [/^\/?$/, overview.render, "#/"],
  [/^\/groups\/(.+)$/, groups.detail, "#/"],
  [/^\/ms$/, ms.list, "#/ms"],
  [/^\/ms\/(.+)$/, ms.detail, "#/ms"],
  [/^\/images$/, images.list, "#/images"],
  [/^\/images\/(\d+)$/, images.detail, "#/images"],
  [/^\/sources$/, sources.list, "#/sources"],
  [/^\/sources\/(\d+)$/, sources.detail, "#/sources"],
  [/^\/candidates$/, candidates.list, "#/candidates"],
  [/^\/cal$/, cal.list, "#/cal"],
  [/^\/cal\/(.+)$/, cal.detail, "#/cal"],
  [/^\/jobs$/, jobs.list, "#/jobs"],
  [/^\/jobs\/(.+)$/, jobs.detail, "#/jobs"],
  [/^\/mosaics$/, mosaics.list, "#/mosaics"],
  [/^\/mosaics\/(\d+)$/, mosaics.detail, "#/mosaics"],
  [/^\/sign-in$/, auth.signIn, null],
];

const view = document.getElementById("view");
let leaving = []; // cleanups of the page shown (close its WebSockets, stop its timers)
let shown = 0; // which navigation is current

function highlight(navHref) {
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("current", a.getAttribute("href") === navHref);
  }
}

async function show() {
  for (const cleanup of leaving) cleanup();
  leaving = [];
  const navigation = ++shown;
  const hash = location.hash.replace(/^#/, "") || "/";
  const cut = hash.indexOf("?");
  const [path, queryText] = cut < 0 ? [hash, ""] : [hash.slice(0, cut), hash.slice(cut + 1)];
  const root = h("section", { class: "page", "data-route": hash }, h("p", { class: "loading" }, "Loading…"));
  fill(view, root);
  const ctx = {
    root,
    query: new URLSearchParams(queryText),
    setTitle: (title) => {
      document.title = `${title} · DSA-110 continuum`;
    },
    // A page that finishes loading after the user moved on is cleaned up at once.
    onLeave: (cleanup) => (navigation === shown ? leaving.push(cleanup) : cleanup()),
  };
  const found = ROUTES.map(([pattern, render, nav]) => [path.match(pattern), render, nav]).find(([m]) => m);
  if (!found) {
    highlight(null);
    ctx.setTitle("No such page");
    fill(root, h("h1", {}, "No such page"), errorBox({ status: 404, message: `there is no page "${path}"` }));
    root.dataset.ready = "error";
    return;
  }
  const [match, render, nav] = found;
  highlight(nav);
  try {
    await render({ ...ctx, params: match.slice(1).map(decodeURIComponent) });
    root.dataset.ready = "true";
  } catch (err) {
    if (!(err instanceof ApiError)) console.error(err); // a bug of the page, not the API's answer
    fill(root, h("h1", {}, err.status === 404 ? "Not found" : "Could not load this page"), errorBox(err));
    root.dataset.ready = "error";
  }
}

window.addEventListener("hashchange", show);
show();
