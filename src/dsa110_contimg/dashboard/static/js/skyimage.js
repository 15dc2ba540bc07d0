// An image preview with its celestial coordinate grid drawn over it and the
// RA/Dec under the pointer.

import { h, s } from "./dom.js";
import * as f from "./format.js";
import { linearTicks, readout } from "./plot.js";
import { ImageWcs, wrapRa } from "./wcs.js";

const SIZE = 1000; // the overlay's viewBox per axis: fractions times SIZE

function gridLines(wcs) {
  // The RA and Dec ranges over the image's border, then lines of constant RA and Dec.
  const border = [];
  for (let i = 0; i <= 20; i += 1) {
    for (const [fx, fy] of [[i / 20, 0], [i / 20, 1], [0, i / 20], [1, i / 20]]) {
      const sky = wcs.toSky(fx, fy);
      if (sky) border.push(sky);
    }
  }
  if (!border.length) return [];
  const raC = border[0].ra;
  const ras = border.map((p) => raC + wrapRa(p.ra - raC));
  const decs = border.map((p) => p.dec);
  const [ra0, ra1] = [Math.min(...ras), Math.max(...ras)];
  const [dec0, dec1] = [Math.min(...decs), Math.max(...decs)];
  const group = s("g", { class: "wcs-grid" });
  const trace = (sample, label, anchor) => {
    const pts = [];
    for (let i = 0; i <= 40; i += 1) {
      const frac = sample(i / 40);
      if (frac) pts.push([frac.fx * SIZE, frac.fy * SIZE]);
    }
    if (pts.length < 2) return;
    group.append(s("polyline", { points: pts.map((p) => p.join(",")).join(" ") }));
    const inside = pts.find(([px, py]) => px >= 0 && px <= SIZE && py >= 0 && py <= SIZE);
    if (inside) group.append(s("text", { x: inside[0] + 4, y: inside[1] - 4, "text-anchor": anchor }, label));
  };
  for (const dec of linearTicks(dec0, dec1, 4)) {
    trace((t) => wcs.toFraction(ra1 - t * (ra1 - ra0), dec), `${f.num(dec, 5)}°`, "start");
  }
  for (const ra of linearTicks(ra0, ra1, 4)) {
    const shown = ((ra % 360) + 360) % 360;
    trace((t) => wcs.toFraction(ra, dec0 + t * (dec1 - dec0)), `${f.num(shown, 5)}°`, "start");
  }
  return group;
}

/**
 * The preview of `image` (an API image record) from `src`. A preview the pipeline
 * rendered (`preview_path`) has its own RA/Dec axes and is shown as it is; the API's
 * own rendering is the bare image, which gets a coordinate grid and a readout here.
 * A preview that cannot be loaded (file missing) is replaced by a message.
 */
export function skyImage(image, src) {
  const img = h("img", { class: "preview", src, alt: `Preview of image ${image.id}` });
  const figure = h("figure", { class: "sky-image" }, img);
  const widget = h("div", { class: "sky-image-widget" }, figure);
  img.addEventListener("error", () => {
    widget.replaceChildren(h("p", { class: "error-box" }, "The preview is not available: the image file is missing on disk."));
  });
  if (image.preview_path) {
    figure.classList.add("with-axes");
    return widget;
  }
  const wcs = new ImageWcs(image);
  const line = readout("Point at the image for its coordinates.");
  const overlay = s("svg", { class: "wcs-overlay", viewBox: `0 0 ${SIZE} ${SIZE}`, preserveAspectRatio: "none" }, gridLines(wcs));
  overlay.addEventListener("pointermove", (event) => {
    const box = overlay.getBoundingClientRect();
    const sky = wcs.toSky((event.clientX - box.left) / box.width, (event.clientY - box.top) / box.height);
    if (sky) line.textContent = `RA ${f.ra(sky.ra)}  Dec ${f.dec(sky.dec)}  (${sky.ra.toFixed(4)}°, ${sky.dec.toFixed(4)}°)`;
  });
  figure.append(overlay);
  widget.append(line);
  return widget;
}

/**
 * A cutout of an image around a position (deg), rendered by the API from the
 * FITS file; null when the image does not cover the position.
 */
export function cutout(image, raDeg, decDeg, { radiusArcmin, caption = "" }) {
  const at = new ImageWcs(image).toFraction(raDeg, decDeg);
  if (!at || at.fx < 0 || at.fx > 1 || at.fy < 0 || at.fy > 1) return null;
  const query = new URLSearchParams({ ra: raDeg, dec: decDeg, radius_arcmin: radiusArcmin.toPrecision(4) });
  const img = h("img", { src: `/api/images/${image.id}/cutout.png?${query}`, alt: caption, loading: "lazy" });
  const box = h("div", { class: "cutout-box" }, img, h("span", { class: "crosshair" }));
  img.addEventListener("error", () => box.replaceChildren(h("span", { class: "missing" }, "file missing")));
  return h("figure", { class: "cutout" }, box, h("figcaption", {}, caption));
}
