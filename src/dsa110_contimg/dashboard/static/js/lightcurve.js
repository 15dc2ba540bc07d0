// The light curve plot: flux density (mJy) against MJD with 1-sigma error bars,
// raw or normalised, upper limits as downward triangles, and a hover readout.

import { h, s } from "./dom.js";
import * as f from "./format.js";
import { frame, pointerIn, readout, scale, xRange, yRange } from "./plot.js";

const MODES = {
  normalised: { value: "norm_flux_jy", error: "norm_flux_err_jy", label: "Normalised flux density (mJy)" },
  raw: { value: "flux_jy", error: "flux_err_jy", label: "Raw flux density (mJy)" },
};

/** The mode to show first: normalised when every point has it, else raw. */
export function defaultMode(points) {
  return points.length && points.every((p) => p.norm_flux_jy !== null) ? "normalised" : "raw";
}

function draw(points, mode, line) {
  const { value, error, label } = MODES[mode];
  const shown = points.filter((p) => p[value] !== null && p[value] !== undefined);
  const mjy = (p, sign) => (p[value] + sign * (p.is_upper_limit ? 0 : p[error] || 0)) * 1e3;
  const x = scale(shown.map((p) => p.mjd), xRange());
  const y = scale(shown.flatMap((p) => [mjy(p, -1), mjy(p, 1)]), yRange());
  const plot = frame(x, y, { xLabel: "MJD (UTC)", yLabel: label, cls: "plot lightcurve" });
  const markers = s("g", { class: "points" });
  shown.forEach((p, i) => {
    const px = x(p.mjd);
    const py = y(p[value] * 1e3);
    const attrs = { class: "lc-point", "data-index": i, "data-image": p.image_id };
    if (p.is_upper_limit) {
      markers.append(
        s("path", { ...attrs, class: "lc-point upper-limit", d: `M${px - 5},${py - 4}h10l-5,9z` }),
      );
    } else {
      markers.append(
        s("line", { class: "errorbar", x1: px, x2: px, y1: y(mjy(p, -1)), y2: y(mjy(p, 1)) }),
        s("circle", { ...attrs, cx: px, cy: py, r: 4 }),
      );
    }
  });
  plot.append(markers);

  const describe = (p) =>
    `MJD ${f.mjd(p.mjd)} (${f.mjdToIso(p.mjd)}): ` +
    (p.is_upper_limit ? `< ${f.mjy(p[value])}` : `${f.mjy(p[value])} ± ${f.mjy(p[error])}`) +
    `, SNR ${f.num(p.snr)}, image #${p.image_id}`;
  let current = null;
  const nearest = (event) => {
    const at = pointerIn(plot, event);
    let best = null;
    let bestDistance = 400; // within 20 viewBox units
    shown.forEach((p, i) => {
      const d = (x(p.mjd) - at.x) ** 2 + (y(p[value] * 1e3) - at.y) ** 2;
      if (d < bestDistance) [best, bestDistance] = [i, d];
    });
    return best;
  };
  plot.addEventListener("pointermove", (event) => {
    const i = nearest(event);
    if (i === current) return;
    if (current !== null) markers.querySelector(`[data-index="${current}"]`).classList.remove("active");
    current = i;
    if (i === null) return;
    markers.querySelector(`[data-index="${i}"]`).classList.add("active");
    line.textContent = describe(shown[i]);
  });
  plot.addEventListener("click", (event) => {
    const i = nearest(event);
    if (i !== null) location.hash = `#/images/${shown[i].image_id}`;
  });
  return plot;
}

/** A light curve widget: mode buttons, the plot and its readout. */
export function lightCurve(points) {
  if (!points.length) return h("p", { class: "empty" }, "No measurements yet.");
  const line = readout("Point at a measurement for its values; click it to open its image.");
  const holder = h("div", { class: "plot-holder" });
  const canNormalise = points.some((p) => p.norm_flux_jy !== null);
  const buttons = {};
  const show = (mode) => {
    holder.replaceChildren(draw(points, mode, line));
    for (const [name, button] of Object.entries(buttons)) {
      button.setAttribute("aria-pressed", String(name === mode));
    }
  };
  for (const mode of Object.keys(MODES)) {
    buttons[mode] = h("button", {
      type: "button",
      class: "toggle",
      "data-mode": mode,
      disabled: mode === "normalised" && !canNormalise,
      on: { click: () => show(mode) },
    }, mode === "raw" ? "Raw" : "Normalised");
  }
  show(defaultMode(points));
  return h("div", { class: "lightcurve-widget" }, h("div", { class: "toolbar" }, Object.values(buttons)), holder, line);
}
