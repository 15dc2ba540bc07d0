// Mosaics: co-added images (thumbnails, versions), and one mosaic with its preview, tiles and FITS.

import { api } from "../api.js";
import { mosaicPanel } from "../control.js";
import { badge, fields, fill, h, link, table } from "../dom.js";
import * as f from "../format.js";
import { listPage, section } from "../ui.js";

const FILTERS = [
  { name: "mjd_min", label: "Start from MJD", type: "number" },
  { name: "mjd_max", label: "to", type: "number" },
];

const fitsLink = (m) => h("a", { href: `/api/mosaics/${m.id}/fits`, download: "" }, "download");

/** A PNG of the mosaic (the build's preview or thumbnail), or a note when its file is missing. */
function png(m, kind, cls) {
  const img = h("img", { class: cls, src: `/api/mosaics/${m.id}/${kind}.png`, alt: `${kind} of mosaic ${m.name}`, loading: "lazy" });
  img.addEventListener("error", () => img.replaceWith(h("span", { class: "missing" }, "no preview")));
  return img;
}

/** Strip and period of a mosaic the daemon (or a batch) made, "—" for one made by hand. */
const strip = (m) =>
  m.strip_dec_deg === null || m.strip_dec_deg === undefined
    ? "—"
    : `Dec ${f.dec(m.strip_dec_deg)}, ${m.period} from MJD ${f.mjd(m.period_start_mjd)}`;

export async function list(ctx) {
  await listPage(ctx, {
    title: "Mosaics",
    path: "/api/mosaics",
    base: "/mosaics",
    filters: FILTERS,
    empty: "No mosaics yet.",
    before: () => [mosaicPanel()],
    columns: [
      { label: "Mosaic", value: (m) => link(`/mosaics/${m.id}`, m.name) },
      { label: "Preview", value: (m) => link(`/mosaics/${m.id}`, png(m, "thumbnail", "thumb")) },
      { label: "Strip", value: strip },
      { label: "Version", value: (m) => `v${m.version ?? 1}`, cls: "num" },
      { label: "MJD", sort: "mjd_start", value: (m) => `${f.mjd(m.mjd_start)} – ${f.mjd(m.mjd_end)}`, cls: "num" },
      { label: "Centre", value: (m) => `${f.ra(m.ra_deg)} ${f.dec(m.dec_deg)}` },
      { label: "Size", value: (m) => `${m.size_x} × ${m.size_y}`, cls: "num" },
      { label: "Noise", sort: "noise_jy", value: (m) => f.mjy(m.noise_jy), cls: "num" },
      { label: "Status", value: (m) => badge(m.status) },
      { label: "FITS", value: fitsLink },
    ],
  });
}

export async function detail(ctx) {
  const [id] = ctx.params;
  ctx.setTitle(`Mosaic #${id}`);
  const m = await api(`/api/mosaics/${id}`);
  ctx.setTitle(m.name);
  fill(
    ctx.root,
    h("h1", {}, `Mosaic ${m.name} `, badge(m.status)),
    h("div", {}, png(m, "preview", "preview")),
    fields([
      ["File", h("code", {}, m.path)],
      ["Strip", strip(m)],
      ["Version", m.superseded_by_id
        ? h("span", {}, `v${m.version}, superseded by `, link(`/mosaics/${m.superseded_by_id}`, `#${m.superseded_by_id}`))
        : `v${m.version ?? 1}`],
      ["Time", `MJD ${f.mjd(m.mjd_start)} – ${f.mjd(m.mjd_end)} (${f.mjdToIso(m.mjd_start)} – ${f.mjdToIso(m.mjd_end)})`],
      ["Centre", f.position(m.ra_deg, m.dec_deg)],
      ["Size", `${m.size_x} × ${m.size_y} pixels of ${f.num(m.cell_arcsec)}″`],
      ["Noise", f.mjy(m.noise_jy)],
      ["FITS", fitsLink(m)],
    ]),
    section(`Tiles (${m.tiles.length})`, table([
      { label: "Image", value: (t) => link(`/images/${t.image_id}`, `#${t.image_id}`) },
      { label: "Weight", value: (t) => f.num(t.weight), cls: "num" },
    ], m.tiles, { empty: "No tiles recorded." })),
  );
}
