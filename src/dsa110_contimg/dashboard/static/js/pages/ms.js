// Measurement Sets: the list with filters, and one MS with its metadata, QA,
// calibration and images.

import { api, encodePath } from "../api.js";
import { badge, fields, fill, h, link, table } from "../dom.js";
import * as f from "../format.js";
import { listPage, section } from "../ui.js";
import { purgedBadge } from "./images.js";
import { reimagePanel } from "../control.js";

const FILTERS = [
  { name: "stage", label: "Stage", options: ["converted", "flagged", "waiting_cal", "calibrated", "imaged"] },
  { name: "status", label: "Status", options: ["ok", "failed", "superseded", "purged"] },
  { name: "cal_applied", label: "Calibrated", options: [["true", "yes"], ["false", "no"]] },
  { name: "group_id", label: "Group", placeholder: "2026-11-28T12:00:00", size: 20 },
];

export const msLink = (path) => link(`/ms/${encodePath(path)}`, path.split("/").pop());

export const CAL_COLUMNS = [
  { label: "Table", value: (c) => link(`/cal/${encodePath(c.path)}`, c.path.split("/").pop()) },
  { label: "Type", value: (c) => c.table_type },
  { label: "Set", value: (c) => c.set_name },
  { label: "Valid (MJD)", value: (c) => `${f.mjd(c.valid_start_mjd)} – ${f.mjd(c.valid_end_mjd)}`, cls: "num" },
  { label: "Status", value: (c) => badge(c.status) },
];

export async function list(ctx) {
  await listPage(ctx, {
    title: "Measurement Sets",
    path: "/api/ms",
    base: "/ms",
    filters: FILTERS,
    empty: "No Measurement Set matches.",
    columns: [
      { label: "MS", sort: "path", value: (m) => msLink(m.path) },
      { label: "Group", value: (m) => (m.group_id ? link(`/groups/${encodeURIComponent(m.group_id)}`, m.group_id) : "—") },
      { label: "Mid-time (MJD)", sort: "mjd_mid", value: (m) => f.mjd(m.mjd_mid), cls: "num" },
      { label: "Stage", sort: "stage", value: (m) => badge(m.stage) },
      { label: "Status", value: (m) => (m.status === "purged" ? purgedBadge(m, "MS") : badge(m.status)) },
      { label: "Calibrated", value: (m) => (m.cal_applied ? "yes" : "no") },
      { label: "Calibrator", value: (m) => m.calibrator ?? "—" },
      { label: "Flagged", value: (m) => f.percent(m.flag_fraction), cls: "num" },
      { label: "Size", sort: "size_bytes", value: (m) => f.bytes(m.size_bytes), cls: "num" },
    ],
  });
}

export async function detail(ctx) {
  const [path] = ctx.params;
  ctx.setTitle(path.split("/").pop());
  const enc = encodePath(path);
  const [meta, cal, qa] = await Promise.all([
    api(`/api/ms/${enc}/metadata`),
    api(`/api/ms/${enc}/calibrator-matches`),
    api(`/api/qa/ms/${enc}`),
  ]);
  fill(
    ctx.root,
    h("h1", {}, meta.path.split("/").pop()),
    fields([
      ["Path", h("code", {}, meta.path)],
      ["Group", meta.group_id ? link(`/groups/${encodeURIComponent(meta.group_id)}`, meta.group_id) : null],
      ["Stage", badge(meta.stage)],
      ["Status", meta.status === "purged" ? h("span", {}, purgedBadge(meta, "MS"), ` removed from disk ${f.time(meta.purged_at)}; metadata and provenance kept`) : badge(meta.status)],
      ["Time (MJD)", `${f.mjd(meta.mjd_start)} – ${f.mjd(meta.mjd_end)} (${f.mjdToIso(meta.mjd_mid)} mid, ${f.seconds(meta.duration_s)})`],
      ["Pointing", f.position(meta.pointing_ra_deg, meta.pointing_dec_deg)],
      ["Phase centre", f.position(meta.phase_ra_deg, meta.phase_dec_deg)],
      ["Field", meta.field_name],
      ["Rows × channels", `${meta.n_rows ?? "?"} × ${meta.n_channels ?? "?"}`],
      ["Size", f.bytes(meta.size_bytes)],
      ["Calibrator", meta.calibrator],
      ["Calibration applied", meta.cal_applied ? "yes" : "no"],
    ]),
    section("Quality", fields([
      ["Flagged", f.percent(qa.flag_fraction)],
      ["Note", qa.note],
      ["Metrics", h("pre", {}, f.json(qa.qa_metrics))],
    ])),
    section("Calibration applied", table(CAL_COLUMNS, cal.applied, { empty: "None applied." })),
    section("Calibration tables valid for it", table(CAL_COLUMNS, cal.matches, { empty: "No valid table matches." })),
    section("Images", table([
      { label: "Image", value: (im) => link(`/images/${im.id}`, `#${im.id} ${im.path.split("/").pop()}`) },
      { label: "Noise", value: (im) => f.mjy(im.noise_jy), cls: "num" },
      { label: "Dynamic range", value: (im) => f.num(im.dynamic_range), cls: "num" },
      { label: "QA", value: (im) => badge(im.qa_grade) },
    ], qa.images, { empty: "Not imaged yet." })),
    reimagePanel(meta.path),
  );
}
