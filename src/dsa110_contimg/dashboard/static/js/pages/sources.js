// Sources: the list with cone search and variability filters and the eta-V
// plot, and one source with its light curve, measurements, metrics and cutouts.

import { api } from "../api.js";
import { badge, fields, fill, h, link, table } from "../dom.js";
import { etaVPlot } from "../etav.js";
import * as f from "../format.js";
import { lightCurve } from "../lightcurve.js";
import { cutout } from "../skyimage.js";
import { exportLinks, filterForm, listPage, listParams, section, settle } from "../ui.js";
import { surveyLinks, vettingPanel } from "../vetting.js";

/** Radius of the neighbours listed on a source's page, degrees (a few DSA-110 beams). */
const NEIGHBOUR_RADIUS_DEG = 0.25;

/** The sources near `src` with their separations (arcsec), nearest first. */
async function neighbours(src) {
  const page = await settle(api("/api/sources", { ra: src.ra_deg, dec: src.dec_deg, radius_deg: NEIGHBOUR_RADIUS_DEG, limit: 50 }));
  if (page instanceof Error) return h("p", {}, page.message);
  const rad = Math.PI / 180;
  const sep = (o) => {
    const c = Math.sin(src.dec_deg * rad) * Math.sin(o.dec_deg * rad) + Math.cos(src.dec_deg * rad) * Math.cos(o.dec_deg * rad) * Math.cos((o.ra_deg - src.ra_deg) * rad);
    return (Math.acos(Math.min(1, Math.max(-1, c))) / rad) * 3600;
  };
  const others = page.items.filter((o) => o.id !== src.id).map((o) => ({ ...o, sep: sep(o) })).sort((a, b) => a.sep - b.sep);
  return table([
    { label: "Source", value: (o) => link(`/sources/${o.id}`, o.name) },
    { label: "Separation", value: (o) => `${f.num(o.sep, 1)}″`, cls: "num" },
    { label: "Catalog", value: (o) => (o.catalog ? `${o.catalog} ${o.catalog_id ?? ""}` : "—") },
    { label: "Catalog flux", value: (o) => f.mjy(o.catalog_flux_jy), cls: "num" },
    { label: "η", value: (o) => f.num(o.variability?.eta), cls: "num" },
  ], others, { empty: `No other source within ${NEIGHBOUR_RADIUS_DEG}°.`, cls: "neighbours" });
}

const FILTERS = [
  { name: "name", label: "Name contains", size: 14 },
  { name: "ra", label: "RA (deg)", type: "number", size: 7 },
  { name: "dec", label: "Dec (deg)", type: "number", size: 7 },
  { name: "radius_deg", label: "Radius (deg)", type: "number", size: 5 },
  { name: "catalog", label: "Catalog", size: 6 },
  { name: "eta_min", label: "η ≥", type: "number", size: 5 },
  { name: "v_min", label: "V ≥", type: "number", size: 5 },
  { name: "n_epochs_min", label: "Epochs ≥", type: "number", size: 4 },
  { name: "verdict", label: "Verdict", options: [["confirmed", "confirmed"], ["dismissed", "dismissed"], ["needs_follow_up", "needs follow-up"]] },
  { name: "tag", label: "Tag", size: 10 },
  { name: "unvetted", label: "Looked at", options: [["true", "not yet"], ["false", "yes"]] },
  { name: "candidates_only", label: "Candidates only", type: "checkbox" },
];
const RANGE = [
  { name: "mjd_min", label: "MJD from", type: "number" },
  { name: "mjd_max", label: "to", type: "number" },
];
// Most sources drawn on the eta-V plot (the most variable by eta first).
const PLOT_LIMIT = 1000;
// Most cutouts shown on a source's page (its newest images).
const MAX_CUTOUTS = 8;

const metric = (key, digits = 3) => (src) => (src.variability ? f.num(src.variability[key], digits) : "—");

async function plotOf(ctx) {
  const params = { ...listParams(ctx.query, FILTERS, PLOT_LIMIT), offset: 0, sort: "-eta" };
  const [matching, candidates] = await Promise.all([
    settle(api("/api/sources", params)),
    settle(api("/api/sources", { candidates_only: true, limit: PLOT_LIMIT })),
  ]);
  if (matching instanceof Error) return null; // the list shows the error
  const ids = new Set(candidates instanceof Error ? [] : candidates.items.map((src) => src.id));
  const note = matching.total > matching.items.length
    ? h("p", { class: "note" }, `The ${matching.items.length} sources of highest η of ${matching.total} matching.`)
    : null;
  return section("η–V", etaVPlot(matching.items, ids), note);
}

export async function list(ctx) {
  await listPage(ctx, {
    title: "Sources",
    path: "/api/sources",
    base: "/sources",
    filters: FILTERS,
    empty: "No source matches.",
    before: async () => [await plotOf(ctx), h("p", {}, exportLinks("/api/export/sources"))],
    columns: [
      { label: "Name", sort: "name", value: (src) => link(`/sources/${src.id}`, src.name) },
      { label: "RA", sort: "ra_deg", value: (src) => f.ra(src.ra_deg) },
      { label: "Dec", sort: "dec_deg", value: (src) => f.dec(src.dec_deg) },
      { label: "Catalog", value: (src) => src.catalog ?? "—" },
      { label: "Catalog flux", sort: "catalog_flux_jy", value: (src) => f.mjy(src.catalog_flux_jy), cls: "num" },
      { label: "Epochs", sort: "n_epochs", value: (src) => (src.variability ? String(src.variability.n_epochs) : "0"), cls: "num" },
      { label: "Mean flux", value: (src) => f.mjy(src.variability?.mean_flux_jy), cls: "num" },
      { label: "η", sort: "eta", value: metric("eta"), cls: "num" },
      { label: "V", sort: "v", value: metric("v"), cls: "num" },
      { label: "Reference", value: (src) => (src.is_reference ? "yes" : "") },
    ],
  });
}

function metrics(m) {
  if (!m) return h("p", { class: "empty" }, "No metrics yet (fewer than two measurements).");
  return fields([
    ["Epochs", `${m.n_epochs} (MJD ${f.mjd(m.first_mjd)} – ${f.mjd(m.last_mjd)})`],
    ["Mean flux", `${f.mjy(m.mean_flux_jy)} (weighted ${f.mjy(m.weighted_mean_flux_jy)}, std ${f.mjy(m.std_flux_jy)})`],
    ["Range", `${f.mjy(m.min_flux_jy)} – ${f.mjy(m.max_flux_jy)}`],
    ["η (weighted reduced χ²)", f.num(m.eta)],
    ["V (modulation index)", f.num(m.v)],
    ["χ²/ν", f.num(m.chi2_nu)],
    ["max |Vs| (two-epoch)", f.num(m.vs_max)],
    ["max |m| (two-epoch)", f.num(m.m2_max)],
    ["Deviation (σ)", f.num(m.sigma_deviation)],
    ["Updated", f.time(m.updated_at)],
  ]);
}

async function cutouts(src, points) {
  const ids = [...new Set(points.map((p) => p.image_id))].slice(-MAX_CUTOUTS);
  const images = await Promise.all(ids.map((id) => settle(api(`/api/images/${id}`))));
  const figures = images
    .filter((im) => !(im instanceof Error))
    .map((im) => {
      // 16 pixels or 4 beams either side, whichever is wider
      const radiusArcmin = Math.max(16 * im.cell_arcsec, 4 * (im.beam_major_arcsec || 0)) / 60;
      const caption = `#${im.id} MJD ${f.mjd(im.mjd_obs)}`;
      const figure = cutout(im, src.ra_deg, src.dec_deg, { radiusArcmin, caption });
      return figure && link(`/images/${im.id}`, figure);
    })
    .filter(Boolean);
  return figures.length ? h("div", { class: "cutouts" }, figures) : h("p", { class: "empty" }, "No image covers this source.");
}

const POINT_COLUMNS = [
  { label: "MJD", value: (p) => f.mjd(p.mjd), cls: "num" },
  { label: "Time (UTC)", value: (p) => f.mjdToIso(p.mjd) },
  { label: "Flux", value: (p) => `${p.is_upper_limit ? "< " : ""}${f.mjy(p.flux_jy)} ± ${f.mjy(p.flux_err_jy)}`, cls: "num" },
  { label: "Normalised", value: (p) => (p.norm_flux_jy === null ? "—" : `${f.mjy(p.norm_flux_jy)} ± ${f.mjy(p.norm_flux_err_jy)}`), cls: "num" },
  { label: "SNR", value: (p) => f.num(p.snr), cls: "num" },
  { label: "Local rms", value: (p) => f.mjy(p.local_rms_jy), cls: "num" },
  { label: "Flags", value: (p) => (p.flags ? String(p.flags) : "") },
  { label: "Image", value: (p) => link(`/images/${p.image_id}`, `#${p.image_id}`) },
];

export async function detail(ctx) {
  const [id] = ctx.params;
  ctx.setTitle(`Source #${id}`);
  const range = { mjd_min: ctx.query.get("mjd_min"), mjd_max: ctx.query.get("mjd_max") };
  const [src, curve] = await Promise.all([api(`/api/sources/${id}`), api(`/api/sources/${id}/lightcurve`, range)]);
  ctx.setTitle(src.name);
  fill(
    ctx.root,
    h("h1", {}, src.name, " ", src.candidates.map((c) => badge(c.kind))),
    fields([
      ["Position", f.position(src.ra_deg, src.dec_deg)],
      ["Catalog", src.catalog ? `${src.catalog} ${src.catalog_id ?? ""}` : null],
      ["Catalog flux", src.catalog_flux_jy === null ? null : `${f.mjy(src.catalog_flux_jy)} ± ${f.mjy(src.catalog_flux_err_jy)}`],
      ["Size", src.major_arcsec === null ? null : `${f.num(src.major_arcsec)}″ × ${f.num(src.minor_arcsec)}″`],
      ["Flux reference", src.is_reference ? "yes (used to normalise epochs)" : "no"],
    ]),
    section("Light curve",
      filterForm(RANGE, ctx.query, `/sources/${src.id}`),
      lightCurve(curve.points),
      h("p", {}, exportLinks(`/api/export/lightcurve/${src.id}`, range))),
    h("div", { class: "columns" },
      section("Variability", metrics(src.variability)),
      section("Candidates", table([
        { label: "Kind", value: (c) => badge(c.kind) },
        { label: "Score", value: (c) => f.num(c.score), cls: "num" },
        { label: "Preset", value: (c) => c.preset ?? "—" },
        { label: "Status", value: (c) => badge(c.status) },
        { label: "Note", value: (c) => c.note ?? "" },
      ], src.candidates, { empty: "Not a candidate." }))),
    surveyLinks(src.ra_deg, src.dec_deg),
    vettingPanel("source", src.id).element,
    section(`Neighbours within ${NEIGHBOUR_RADIUS_DEG}° (catalog cross-matches)`, await neighbours(src)),
    section("Cutouts", await cutouts(src, curve.points)),
    section(`Measurements (${curve.n_points})`, table(POINT_COLUMNS, curve.points, { empty: "No measurements yet.", cls: "measurements" })),
  );
}
