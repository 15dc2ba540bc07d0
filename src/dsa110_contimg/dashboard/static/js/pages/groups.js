// One observation group: its subband files and the Measurement Sets made of it.

import { api, encodePath } from "../api.js";
import { badge, fields, fill, h, link, table } from "../dom.js";
import * as f from "../format.js";
import { section } from "../ui.js";
import { reprocessGroup } from "../control.js";

export async function detail(ctx) {
  const [id] = ctx.params;
  ctx.setTitle(`Group ${id}`);
  const group = await api(`/api/groups/${encodeURIComponent(id)}`);
  fill(
    ctx.root,
    h("h1", {}, `Group ${group.id}`),
    fields([
      ["State", badge(group.state)],
      ["Start", `${f.time(group.start_time)} (MJD ${f.mjd(group.start_mjd)})`],
      ["Declination", group.dec_deg === null ? null : `${f.fixed(group.dec_deg, 3)}°`],
      ["Files", `${group.files_present} of ${group.files_expected}`],
      ["Completed", f.time(group.completed_at)],
      ["Error", group.error],
    ]),
    section("Measurement Sets", table([
      { label: "Path", value: (m) => link(`/ms/${encodePath(m.path)}`, m.path) },
      { label: "Stage", value: (m) => badge(m.stage) },
      { label: "Status", value: (m) => badge(m.status) },
    ], group.measurement_sets, { empty: "Not converted yet." })),
    section("Subband files", table([
      { label: "Subband", value: (r) => `sb${String(r.subband).padStart(2, "0")}`, cls: "num" },
      { label: "Path", value: (r) => r.path },
      { label: "Size", value: (r) => f.bytes(r.size_bytes), cls: "num" },
      { label: "Status", value: (r) => badge(r.status) },
      { label: "Quarantine reason", value: (r) => r.quarantine_reason ?? "" },
    ], group.files, { empty: "No files recorded." })),
    reprocessGroup(group.id),
  );
}
