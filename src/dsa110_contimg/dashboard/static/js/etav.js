// The eta-V plot: every source with variability metrics, eta (weighted reduced
// chi-squared) against V (modulation index), both on log axes; click a marker
// to open its source.

import { h, s } from "./dom.js";
import * as f from "./format.js";
import { frame, readout, scale, xRange, yRange } from "./plot.js";

/** The plot of `sources` (list items with `variability`); candidates drawn in colour. */
export function etaVPlot(sources, candidateIds = new Set()) {
  const usable = sources.filter((src) => src.variability && src.variability.eta > 0 && src.variability.v > 0);
  const skipped = sources.length - usable.length;
  if (!usable.length) return h("p", { class: "empty" }, "No source has variability metrics yet.");
  const x = scale(usable.map((src) => src.variability.eta), xRange(), { log: true });
  const y = scale(usable.map((src) => src.variability.v), yRange(), { log: true });
  const plot = frame(x, y, { xLabel: "η (weighted reduced χ²)", yLabel: "V (modulation index)", cls: "plot etav" });
  const line = readout("Point at a source for its metrics; click it to open the source.");
  const markers = s("g", { class: "points" });
  for (const src of usable) {
    const m = src.variability;
    const marker = s("circle", {
      class: candidateIds.has(src.id) ? "etav-point candidate" : "etav-point",
      cx: x(m.eta),
      cy: y(m.v),
      r: 4.5,
      "data-source": src.id,
      tabindex: 0,
    }, s("title", {}, src.name));
    const describe = () => {
      line.textContent = `${src.name}: η ${f.num(m.eta)}, V ${f.num(m.v)}, ${m.n_epochs} epochs, mean ${f.mjy(m.mean_flux_jy)}`;
    };
    const open = () => {
      location.hash = `#/sources/${src.id}`;
    };
    marker.addEventListener("pointerenter", describe);
    marker.addEventListener("focus", describe);
    marker.addEventListener("click", open);
    marker.addEventListener("keydown", (event) => event.key === "Enter" && open());
    markers.append(marker);
  }
  plot.append(markers);
  const notes = [
    candidateIds.size ? h("span", { class: "legend-candidate" }, "● candidate") : null,
    skipped ? ` ${skipped} sources without metrics (η and V above zero) are not shown.` : null,
  ];
  return h("div", { class: "etav-widget" }, plot, line, h("p", { class: "note" }, notes));
}
