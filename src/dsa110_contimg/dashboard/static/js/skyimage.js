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
 * The preview of `image` (an API image record) from `src`, with a grid and readout.
 * A preview that cannot be loaded (file missing) is replaced by a message.
 */
export function skyImage(image, src) {
  const wcs = new ImageWcs(image);
  const line = readout("Point at the image for its coordinates.");
  const overlay = s("svg", { class: "wcs-overlay", viewBox: `0 0 ${SIZE} ${SIZE}`, preserveAspectRatio: "none" }, gridLines(wcs));
  const img = h("img", { class: "preview", src, alt: `Preview of image ${image.id}` });
  const figure = h("figure", { class: "sky-image" }, img, overlay);
  img.addEventListener("error", () => {
    figure.replaceWith(h("p", { class: "error-box" }, "The preview is not available: the image file is missing on disk."));
    line.remove();
  });
  overlay.addEventListener("pointermove", (event) => {
    const box = overlay.getBoundingClientRect();
    const sky = wcs.toSky((event.clientX - box.left) / box.width, (event.clientY - box.top) / box.height);
    if (sky) line.textContent = `RA ${f.ra(sky.ra)}  Dec ${f.dec(sky.dec)}  (${sky.ra.toFixed(4)}°, ${sky.dec.toFixed(4)}°)`;
  });
  return h("div", { class: "sky-image-widget" }, figure, line);
}

/** A small square of an image's preview centred on a position (deg), or null off the image. */
export function cutout(image, src, raDeg, decDeg, { halfWidthDeg = 0.05, caption = "" } = {}) {
  const wcs = new ImageWcs(image);
  const at = wcs.toFraction(raDeg, decDeg);
  if (!at || at.fx < 0 || at.fx > 1 || at.fy < 0 || at.fy > 1) return null;
  const { width, height } = wcs.extent;
  const zoomX = width / (2 * halfWidthDeg);
  const zoomY = height / (2 * halfWidthDeg);
  const img = h("img", { src, alt: caption, loading: "lazy" });
  // Scale the preview so the box spans 2 x halfWidthDeg, and shift the source to its centre.
  img.style.width = `${zoomX * 100}%`;
  img.style.height = `${zoomY * 100}%`;
  img.style.left = `${(0.5 - at.fx * zoomX) * 100}%`;
  img.style.top = `${(0.5 - at.fy * zoomY) * 100}%`;
  const box = h("div", { class: "cutout-box" }, img, h("span", { class: "crosshair" }));
  const figure = h("figure", { class: "cutout" }, box, h("figcaption", {}, caption));
  img.addEventListener("error", () => box.replaceChildren(h("span", { class: "missing" }, "file missing")));
  return figure;
}
