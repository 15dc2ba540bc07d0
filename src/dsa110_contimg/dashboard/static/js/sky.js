// Sky coverage: the footprints of images on an RA/Dec plot (RA increasing to
// the left), zoomed to where the images are; click a footprint to open it.

import { h, s } from "./dom.js";
import * as f from "./format.js";
import { frame, readout, scale, xRange, yRange } from "./plot.js";
import { ImageWcs, wrapRa } from "./wcs.js";

function circularMeanRa(images) {
  const rad = Math.PI / 180;
  const sx = images.reduce((a, im) => a + Math.cos(im.ra_deg * rad), 0);
  const sy = images.reduce((a, im) => a + Math.sin(im.ra_deg * rad), 0);
  return Math.atan2(sy, sx) / rad;
}

/** The coverage plot of `images` (API image records). */
export function skyCoverage(images) {
  if (!images.length) return h("p", { class: "empty" }, "No images yet.");
  const centre = circularMeanRa(images);
  const boxes = images.map((im) => {
    const { width, height } = new ImageWcs(im).extent;
    const halfRa = width / 2 / Math.max(Math.cos((im.dec_deg * Math.PI) / 180), 0.05);
    const ra = centre + wrapRa(im.ra_deg - centre);
    return { im, ra0: ra - halfRa, ra1: ra + halfRa, dec0: im.dec_deg - height / 2, dec1: im.dec_deg + height / 2 };
  });
  const x = scale(boxes.flatMap((b) => [b.ra0, b.ra1]), xRange(), { reverse: true });
  const y = scale(boxes.flatMap((b) => [b.dec0, b.dec1]), yRange());
  const plot = frame(x, y, {
    xLabel: "Right ascension (deg)",
    yLabel: "Declination (deg)",
    cls: "plot sky",
    formatX: (t) => String(Number((((t % 360) + 360) % 360).toPrecision(6))),
  });
  const line = readout("Point at a footprint for its image; click it to open the image.");
  const group = s("g", { class: "footprints" });
  for (const b of boxes) {
    const rect = s("rect", {
      class: `footprint grade-${b.im.qa_grade || "none"}`,
      x: x(b.ra1),
      y: y(b.dec1),
      width: Math.max(x(b.ra0) - x(b.ra1), 2),
      height: Math.max(y(b.dec0) - y(b.dec1), 2),
      "data-image": b.im.id,
    });
    rect.addEventListener("pointerenter", () => {
      line.textContent = `Image #${b.im.id} (${b.im.image_type}), MJD ${f.mjd(b.im.mjd_obs)}, centre ${f.position(b.im.ra_deg, b.im.dec_deg)}, noise ${f.mjy(b.im.noise_jy)}`;
    });
    rect.addEventListener("click", () => {
      location.hash = `#/images/${b.im.id}`;
    });
    group.append(rect);
  }
  plot.append(group);
  return h("div", { class: "sky-widget" }, plot, line);
}
