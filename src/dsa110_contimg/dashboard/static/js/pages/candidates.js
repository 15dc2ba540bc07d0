// Variability, ESE and new-source candidates, highest score first, with their
// sources' metrics.

import { api } from "../api.js";
import { badge, h, link } from "../dom.js";
import * as f from "../format.js";
import { exportLinks, listPage, settle } from "../ui.js";

const FILTERS = [
  { name: "kind", label: "Kind", options: [["variable", "variable"], ["ese", "ESE"], ["new_source", "new source"]] },
  { name: "status", label: "Status", options: ["new", "confirmed", "dismissed"] },
  { name: "score_min", label: "Score ≥", type: "number", size: 5 },
];

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
  await listPage(ctx, {
    title: "Candidates",
    path: "/api/candidates",
    base: "/candidates",
    filters: FILTERS,
    empty: "No candidate matches.",
    intro: "Sources whose light curves the variability classifier flagged: variables, extreme scattering events (ESE) and new sources.",
    before: () => h("p", {}, exportLinks("/api/export/candidates")),
    columns: [
      { label: "Source", value: (c) => link(`/sources/${c.source_id}`, byId.get(c.source_id)?.name ?? `#${c.source_id}`) },
      { label: "Kind", value: (c) => badge(c.kind) },
      { label: "Score", sort: "score", value: (c) => f.num(c.score), cls: "num" },
      { label: "η", value: (c) => metric(c, "eta"), cls: "num" },
      { label: "V", value: (c) => metric(c, "v"), cls: "num" },
      { label: "Preset", value: (c) => c.preset ?? "—" },
      { label: "Status", sort: "status", value: (c) => badge(c.status) },
      { label: "Flagged", sort: "created_at", value: (c) => f.time(c.created_at) },
      { label: "Why", value: details },
      { label: "Note", value: (c) => c.note ?? "" },
    ],
  });
}
