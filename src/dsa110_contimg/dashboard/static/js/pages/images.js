// Images: the list with thumbnails and filters, and one image with its preview
// (coordinate grid), FITS download, QA and the measurements made on it.

import { api, apiUrl, encodePath, write } from "../api.js";
import { badge, errorBox, fields, fill, h, link, pager, table } from "../dom.js";
import * as f from "../format.js";
import { skyImage } from "../skyimage.js";
import { exportLinks, listPage, route, section, withQuery } from "../ui.js";

const FILTERS = [
  { name: "image_type", label: "Type", options: ["image", "image-pb", "residual", "model", "dirty", "psf", "beam"] },
  { name: "qa_grade", label: "QA grade", options: ["good", "warn", "fail"] },
  { name: "rating", label: "Rating", options: ["good", "bad"] },
  { name: "pbcor", label: "PB-corrected", options: [["true", "yes"], ["false", "no"]] },
  { name: "mjd_min", label: "MJD from", type: "number" },
  { name: "mjd_max", label: "to", type: "number" },
  { name: "noise_max_jy", label: "Noise below (Jy)", type: "number" },
];

/** A purged image's badge (its FITS removed by the storage lifecycle; the record stays). */
export const purgedBadge = (record, what = "file") => {
  const span = badge("purged");
  span.title = `${what} removed by the storage lifecycle ${f.time(record.purged_at)}`;
  return span;
};

/** The FITS download link, or the purged badge when the file is gone. */
const fitsLink = (im, attrs, text) =>
  im.status === "purged" ? purgedBadge(im, "FITS") : h("a", { ...attrs, href: `/api/images/${im.id}/fits`, download: "" }, text);

export const beam = (im) =>
  im.beam_major_arcsec === null ? "—" : `${f.num(im.beam_major_arcsec)}″ × ${f.num(im.beam_minor_arcsec)}″`;

function thumbnail(im) {
  const img = h("img", { class: "thumb", src: `/api/images/${im.id}/thumbnail.png`, alt: `image ${im.id}`, loading: "lazy" });
  img.addEventListener("error", () => img.replaceWith(h("span", { class: "missing" }, "no file")));
  return link(`/images/${im.id}`, img);
}

/** A link that downloads the images ticked in the list as one zip (the API's bulk download). */
function bulkDownload(ctx) {
  const button = h("a", { class: "button", id: "download-selected", download: "", hidden: true }, "");
  ctx.root.addEventListener("change", () => {
    const ids = [...ctx.root.querySelectorAll("input.pick:checked")].map((box) => box.value);
    button.hidden = !ids.length;
    button.textContent = `Download ${ids.length} selected as zip`;
    button.href = apiUrl("/api/images/download", { ids });
  });
  return button;
}

export async function list(ctx) {
  await listPage(ctx, {
    title: "Images",
    path: "/api/images",
    base: "/images",
    filters: FILTERS,
    empty: "No image matches.",
    before: () => h("p", { class: "actions" }, exportLinks("/api/export/images"), bulkDownload(ctx)),
    columns: [
      { label: "", value: (im) => h("input", { type: "checkbox", class: "pick", value: im.id, "aria-label": `select image ${im.id}` }) },
      { label: "", value: thumbnail, cls: "thumb-cell" },
      { label: "Image", sort: "id", value: (im) => link(`/images/${im.id}`, `#${im.id}`) },
      { label: "Type", value: (im) => im.image_type },
      { label: "MJD", sort: "mjd_obs", value: (im) => f.mjd(im.mjd_obs), cls: "num" },
      { label: "Centre", value: (im) => `${f.ra(im.ra_deg)} ${f.dec(im.dec_deg)}` },
      { label: "Noise", sort: "noise_jy", value: (im) => f.mjy(im.noise_jy), cls: "num" },
      { label: "Dynamic range", sort: "dynamic_range", value: (im) => f.num(im.dynamic_range), cls: "num" },
      { label: "Beam", value: beam },
      { label: "QA", value: (im) => badge(im.qa_grade) },
      { label: "FITS", value: (im) => fitsLink(im, {}, "download") },
    ],
  });
}

export async function detail(ctx) {
  const [id] = ctx.params;
  ctx.setTitle(`Image #${id}`);
  const offset = Number(ctx.query.get("offset") || 0);
  const [im, phot] = await Promise.all([
    api(`/api/images/${id}`),
    api(`/api/images/${id}/photometry`, { limit: 50, offset, sort: "source_id" }),
  ]);
  fill(
    ctx.root,
    h("h1", {}, `Image #${im.id} `, badge(im.qa_grade)),
    h("div", { class: "columns" },
      h("div", {}, skyImage(im, `/api/images/${im.id}/preview.png`),
        h("p", {}, fitsLink(im, { class: "button" }, "Download FITS"))),
      h("div", {}, fields([
        ["File", h("code", {}, im.path)],
        ["Type", `${im.image_type} v${im.version}${im.pbcor ? ", primary-beam corrected" : ""}`],
        ["Status", im.status === "purged" ? h("span", {}, purgedBadge(im, "FITS"), ` FITS removed ${f.time(im.purged_at)}; the record and measurements stay`) : badge(im.status)],
        ["Observed", `MJD ${f.mjd(im.mjd_obs)} (${f.mjdToIso(im.mjd_obs)})`],
        ["Centre", f.position(im.ra_deg, im.dec_deg)],
        ["Size", `${im.size_x} × ${im.size_y} pixels of ${f.num(im.cell_arcsec)}″`],
        ["Frequency", im.freq_hz === null ? null : `${f.num(im.freq_hz / 1e6, 5)} MHz, ${f.num((im.bandwidth_hz ?? 0) / 1e6)} MHz wide`],
        ["Integration", f.seconds(im.integration_s)],
        ["Beam", `${beam(im)}${im.beam_pa_deg === null ? "" : `, PA ${f.num(im.beam_pa_deg)}°`}`],
        ["Noise", f.mjy(im.noise_jy)],
        ["Peak", f.mjy(im.peak_jy)],
        ["Dynamic range", f.num(im.dynamic_range)],
        ["Measurement Set", im.ms_path ? link(`/ms/${encodePath(im.ms_path)}`, im.ms_path) : null],
      ]),
      section("Quality", fields([["Grade", badge(im.qa_grade)], ["Metrics", h("pre", {}, f.json(im.qa_metrics))]])),
      ratingPanel(im))),
    section("Measurements on this image",
      pager(phot, (next) => route(`/images/${id}`, withQuery(ctx.query, { offset: next }))),
      table([
        { label: "Source", value: (p) => link(`/sources/${p.source_id}`, `#${p.source_id}`) },
        { label: "Flux", value: (p) => `${f.mjy(p.flux_jy)} ± ${f.mjy(p.flux_err_jy)}`, cls: "num" },
        { label: "Normalised", value: (p) => f.mjy(p.norm_flux_jy), cls: "num" },
        { label: "SNR", value: (p) => f.num(p.snr), cls: "num" },
        { label: "Upper limit", value: (p) => (p.is_upper_limit ? "yes" : "") },
        { label: "Flags", value: (p) => (p.flags ? String(p.flags) : "") },
      ], phot.items, { empty: "No measurements on this image." })),
  );
}

/**
 * An operator's rating: good or bad with a comment. A bad image is left out of light curves,
 * normalisation, metrics, candidates and mosaics at once; rating it good brings it back.
 */
function ratingPanel(im) {
  const element = h("section", { class: "panel rating", "data-rating": im.rating ?? "" });
  const render = async (message) => {
    const history = await api(`/api/images/${im.id}/ratings`).catch(() => []);
    const comment = h("input", { type: "text", name: "rating-comment", placeholder: "comment", size: 30 });
    const rate = (rating) => async () => {
      try {
        const result = await write("POST", `/api/images/${im.id}/rating`, { rating, comment: comment.value || null });
        im.rating = result.rating;
        element.dataset.rating = result.rating;
        render(`Rated ${result.rating}: ${result.n_sources} sources recomputed, ${result.withdrawn_candidates.length} candidates withdrawn, ${result.new_candidates.length} new.`);
      } catch (err) {
        element.append(errorBox(err));
      }
    };
    fill(
      element,
      h("h2", {}, "Rating"),
      h("p", {}, "Rated: ", im.rating ? badge(im.rating) : "not yet",
        im.rating === "bad" ? " — left out of light curves, normalisation and mosaics" : ""),
      h("p", {}, comment,
        h("button", { type: "button", "data-rate": "good", on: { click: rate("good") } }, "Rate good"),
        h("button", { type: "button", "data-rate": "bad", on: { click: rate("bad") } }, "Rate bad")),
      message ? h("p", { class: "rating-result" }, message) : null,
      h("ol", { class: "rating-history" }, history.map((r) =>
        h("li", {}, h("time", {}, f.time(r.created_at)), " ", h("b", {}, r.author), " ", badge(r.value), r.text ? ` — ${r.text}` : ""))),
    );
  };
  render();
  return element;
}
