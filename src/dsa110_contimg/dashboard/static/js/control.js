// The pipeline's controls: each starts one of the API's batch operations (the same queue as
// scripts use) as the signed-in user and opens the batch's job page, whose progress is live
// over the WebSocket. Reprocess a group or an MJD range, re-image an MS, cancel a job, make a
// mosaic of a declination strip.

import { write } from "./api.js";
import { errorBox, h } from "./dom.js";

/** The imaging tiers an operator may ask for (imaging/tiers.py). */
export const TIERS = ["standard", "quicklook"];

async function start(element, path, body) {
  element.querySelector(".error")?.remove();
  try {
    const batch = await write("POST", path, body);
    location.hash = `#/jobs/${encodeURIComponent(batch.run_id)}`;
  } catch (err) {
    element.append(errorBox(err));
  }
}

/** A panel with one button that sends `body` to `path` (a batch operation). */
export function actionPanel(title, label, path, body, { id } = {}) {
  const element = h("section", { class: "panel control" });
  const button = h("button", { type: "button", id, on: { click: () => start(element, path, body()) } }, label);
  element.append(h("h2", {}, title), button);
  return element;
}

/** Reprocess one group. */
export const reprocessGroup = (groupId) =>
  actionPanel("Control", "Reprocess this group", "/api/batch/reprocess", () => ({ group_ids: [groupId] }), { id: "reprocess-group" });

/** Re-image an MS with a tier and imaging parameters. */
export function reimagePanel(msPath) {
  const element = h("section", { class: "panel control" });
  const tier = h("select", { name: "tier", id: "reimage-tier" }, TIERS.map((t) => h("option", { value: t }, t)));
  const extra = h("input", { type: "text", name: "params", id: "reimage-params", size: 40, placeholder: '{"niter": 5000} (optional JSON)' });
  const form = h("form", { class: "reimage" }, h("label", {}, "Tier ", tier), h("label", {}, " Parameters ", extra),
    h("button", { type: "submit", id: "reimage-submit" }, "Re-image"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    let params = {};
    try {
      params = extra.value.trim() ? JSON.parse(extra.value) : {};
    } catch {
      element.append(errorBox({ status: 422, message: "the parameters are not valid JSON" }));
      return;
    }
    start(element, "/api/batch/reimage", { ms_paths: [msPath], params: { ...params, tier: tier.value } });
  });
  element.append(h("h2", {}, "Re-image"), form);
  return element;
}

/** Reprocess the groups of an MJD range. */
export function reprocessRangePanel() {
  const element = h("section", { class: "panel control" });
  const from = h("input", { type: "number", step: "any", name: "mjd_start", id: "reprocess-from", size: 10 });
  const to = h("input", { type: "number", step: "any", name: "mjd_end", id: "reprocess-to", size: 10 });
  const form = h("form", { class: "reprocess-range" }, h("label", {}, "MJD from ", from), h("label", {}, " to ", to),
    h("button", { type: "submit", id: "reprocess-range-submit" }, "Reprocess"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    start(element, "/api/batch/reprocess", { mjd_start: Number(from.value), mjd_end: Number(to.value) });
  });
  element.append(h("h2", {}, "Reprocess a time range"), form);
  return element;
}

/** Cancel a job (pending or running). */
export const cancelJob = (runId) =>
  actionPanel("Control", "Cancel this job", "/api/batch/cancel", () => ({ run_ids: [runId] }), { id: "cancel-job" });

/** Make a mosaic of a declination strip over an MJD range (a new version if it exists). */
export function mosaicPanel() {
  const element = h("section", { class: "panel control" });
  const input = (name, id, size = 10) => h("input", { type: "number", step: "any", name, id, size, required: true });
  const dec = input("dec_deg", "mosaic-dec", 6);
  const from = input("mjd_start", "mosaic-from");
  const to = input("mjd_end", "mosaic-to");
  const form = h("form", { class: "mosaic-make" }, h("label", {}, "Dec ", dec), h("label", {}, " MJD from ", from),
    h("label", {}, " to ", to), h("button", { type: "submit", id: "mosaic-submit" }, "Make a mosaic"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    start(element, "/api/batch/mosaic", { dec_deg: Number(dec.value), mjd_start: Number(from.value), mjd_end: Number(to.value) });
  });
  element.append(h("h2", {}, "Make a mosaic"), form);
  return element;
}
