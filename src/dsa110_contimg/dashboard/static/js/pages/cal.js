// Calibration tables: the list with filters, and one table with its QA.

import { api, encodePath } from "../api.js";
import { badge, fields, fill, h, link } from "../dom.js";
import * as f from "../format.js";
import { listPage, section } from "../ui.js";
import { CAL_COLUMNS, msLink } from "./ms.js";

const FILTERS = [
  { name: "table_type", label: "Type", options: ["bandpass", "gain", "phase", "delay"] },
  { name: "status", label: "Status", options: ["valid", "expired", "rejected", "superseded"] },
  { name: "set_name", label: "Set", size: 14 },
  { name: "valid_at_mjd", label: "Valid at MJD", type: "number" },
];

export async function list(ctx) {
  await listPage(ctx, {
    title: "Calibration tables",
    path: "/api/cal",
    base: "/cal",
    filters: FILTERS,
    empty: "No calibration table matches.",
    columns: [
      ...CAL_COLUMNS,
      { label: "Calibrator", value: (c) => c.calibrator ?? "—" },
      { label: "Refant", value: (c) => c.refant ?? "—" },
      { label: "Solved on", value: (c) => (c.source_ms_path ? msLink(c.source_ms_path) : "—") },
    ],
  });
}

export async function detail(ctx) {
  const [path] = ctx.params;
  ctx.setTitle(path.split("/").pop());
  const cal = await api(`/api/cal/${encodePath(path)}`);
  fill(
    ctx.root,
    h("h1", {}, cal.path.split("/").pop(), " ", badge(cal.status)),
    fields([
      ["Path", h("code", {}, cal.path)],
      ["Type", cal.table_type],
      ["Set", link(`/cal?set_name=${encodeURIComponent(cal.set_name)}`, cal.set_name)],
      ["Calibrator", cal.calibrator],
      ["Reference antenna", cal.refant],
      ["Valid", `MJD ${f.mjd(cal.valid_start_mjd)} – ${f.mjd(cal.valid_end_mjd)} (${f.mjdToIso(cal.valid_start_mjd)} – ${f.mjdToIso(cal.valid_end_mjd)})`],
      ["Declination", cal.dec_deg === null ? null : `${f.fixed(cal.dec_deg, 3)}°`],
      ["Solved on", cal.source_ms_path ? msLink(cal.source_ms_path) : null],
      ["Solver", cal.solver ? `${cal.solver} ${cal.solver_version ?? ""}` : null],
      ["Created", f.time(cal.created_at)],
    ]),
    section("Quality", h("pre", {}, f.json(cal.qa_metrics))),
    section("Solver parameters", h("pre", {}, f.json(cal.solver_params))),
  );
}
