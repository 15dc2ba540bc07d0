// Variability, ESE and new-source candidates, highest score first, with their
// sources' metrics.

import { api } from "../api.js";
import { badge, fill, h, link } from "../dom.js";
import * as f from "../format.js";
import { exportLinks, listPage, settle } from "../ui.js";
import { VERDICTS, vettingPanel } from "../vetting.js";

const FILTERS = [
  { name: "kind", label: "Kind", options: [["variable", "variable"], ["ese", "ESE"], ["new_source", "new source"]] },
  { name: "status", label: "Verdict", options: [["new", "new"], ["confirmed", "confirmed"], ["dismissed", "dismissed"], ["needs_follow_up", "needs follow-up"]] },
  { name: "tag", label: "Tag", size: 10 },
  { name: "unvetted", label: "Looked at", options: [["true", "not yet"], ["false", "yes"]] },
  { name: "score_min", label: "Score ≥", type: "number", size: 5 },
];

const HELP = "Keys: j / k next / previous candidate, c confirm, d dismiss, f follow up, ? show or hide this help.";

/** Keyboard vetting over the rendered rows: j/k select, c/d/f give a verdict to the selected one. */
function keyboard(ctx, byKey) {
  const rows = [...ctx.root.querySelectorAll("table.data tbody tr[data-key]")];
  const help = h("p", { class: "key-help", id: "key-help" }, HELP);
  const holder = h("div", { class: "vetting-holder" });
  ctx.root.querySelector("table.data")?.before(help);
  ctx.root.append(holder);
  let at = -1;
  let panel = null;
  const select = (k) => {
    if (!rows.length) return;
    at = Math.max(0, Math.min(rows.length - 1, k));
    rows.forEach((row, i) => row.classList.toggle("selected", i === at));
    rows[at].scrollIntoView({ block: "nearest" });
    const id = Number(rows[at].dataset.key);
    const statusCell = rows[at].querySelector("td.status");
    panel = vettingPanel("candidate", id, (v) => {
      if (statusCell && byKey.get(id)) fill(statusCell, badge(v.verdict ?? byKey.get(id).status));
    });
    fill(holder, h("h2", {}, `Candidate #${id}`), panel.element);
  };
  rows.forEach((row, i) => row.addEventListener("click", (e) => {
    if (e.target.closest("a, button")) return;
    select(i);
  }));
  const keys = Object.fromEntries(VERDICTS.map(([value, , key]) => [key, value]));
  const onKey = (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.target.closest("input, textarea, select")) return;
    if (e.key === "j") select(at + 1);
    else if (e.key === "k") select(at - 1);
    else if (e.key === "?") help.hidden = !help.hidden;
    else if (keys[e.key] && panel) panel.verdict(keys[e.key]);
    else return;
    e.preventDefault();
  };
  document.addEventListener("keydown", onKey);
  ctx.onLeave(() => document.removeEventListener("keydown", onKey));
}

/** The classifier's reasons (the candidate's details) as "key value" pairs. */
function details(candidate) {
  const entries = Object.entries(candidate.details || {});
  const show = (v) => (typeof v === "number" ? f.num(v) : typeof v === "object" ? JSON.stringify(v) : String(v));
  return entries.map(([key, value]) => `${key.replaceAll("_", " ")} ${show(value)}`).join(", ");
}

export async function list(ctx) {
  // The candidates' sources (names and metrics) in one request.
  const sources = await settle(api("/api/sources", { candidates_only: true, limit: 1000 }));
  const byId = new Map(sources instanceof Error ? [] : sources.items.map((src) => [src.id, src]));
  const metric = (c, key) => f.num(byId.get(c.source_id)?.variability?.[key]);
  const page = await listPage(ctx, {
    title: "Candidates",
    path: "/api/candidates",
    base: "/candidates",
    filters: FILTERS,
    empty: "No candidate matches.",
    intro: "Sources whose light curves the variability classifier flagged: variables, extreme scattering events (ESE) and new sources.",
    before: () => h("p", {}, exportLinks("/api/export/candidates", exportFilters(ctx.query))),
    rowKey: (c) => c.id,
    columns: [
      { label: "Source", value: (c) => link(`/sources/${c.source_id}`, byId.get(c.source_id)?.name ?? `#${c.source_id}`) },
      { label: "Kind", value: (c) => badge(c.kind) },
      { label: "Score", sort: "score", value: (c) => f.num(c.score), cls: "num" },
      { label: "η", value: (c) => metric(c, "eta"), cls: "num" },
      { label: "V", value: (c) => metric(c, "v"), cls: "num" },
      { label: "Preset", value: (c) => c.preset ?? "—" },
      { label: "Verdict", sort: "status", value: (c) => badge(c.status), cls: "status" },
      { label: "Flagged", sort: "created_at", value: (c) => f.time(c.created_at) },
      { label: "Why", value: details },
      { label: "Note", value: (c) => c.note ?? "" },
    ],
  });
  if (!(page instanceof Error)) keyboard(ctx, new Map(page.items.map((c) => [c.id, c])));
}

/** The export's filters: the list's (a vetted list exports as it is shown). */
function exportFilters(query) {
  const out = {};
  for (const name of ["kind", "status", "tag", "unvetted"]) if (query.get(name)) out[name] = query.get(name);
  return out;
}
