// Small SVG plotting kit: linear and log scales, nice ticks, a frame with axes,
// and a readout line for hover values. Plots are drawn in a fixed viewBox and
// scale with the page.

import { h, s } from "./dom.js";

export const WIDTH = 720;
export const HEIGHT = 320;
export const MARGIN = { left: 64, right: 16, top: 12, bottom: 44 };

/** Nice round tick values covering [lo, hi], about `count` of them. */
export function linearTicks(lo, hi, count = 6) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((st) => st >= raw);
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push(Number(t.toPrecision(12)));
  }
  return ticks;
}

/** Ticks of a log axis: the decades in [lo, hi], with 2 and 5 between when there are few. */
export function logTicks(lo, hi) {
  const ticks = [];
  const first = Math.floor(Math.log10(lo));
  const last = Math.ceil(Math.log10(hi));
  const mantissas = last - first <= 2 ? [1, 2, 5] : [1];
  for (let e = first; e <= last; e += 1) {
    for (const m of mantissas) {
      const t = m * 10 ** e;
      if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push(Number(t.toPrecision(6)));
    }
  }
  return ticks;
}

/** A scale from a data domain to pixels; `log` for a log axis. Padded by `pad` of the span. */
export function scale(values, range, { log = false, pad = 0.05, reverse = false } = {}) {
  const finite = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  let lo = finite.length ? Math.min(...finite) : log ? 1 : 0;
  let hi = finite.length ? Math.max(...finite) : log ? 10 : 1;
  const f = log ? Math.log10 : (v) => v;
  const inv = log ? (v) => 10 ** v : (v) => v;
  let a = f(lo);
  let b = f(hi);
  if (b - a < 1e-12) {
    const half = log ? 0.5 : Math.abs(a) * 0.05 || 0.5;
    a -= half;
    b += half;
  }
  const span = b - a;
  a -= span * pad;
  b += span * pad;
  lo = inv(a);
  hi = inv(b);
  const [r0, r1] = reverse ? [range[1], range[0]] : range;
  const map = (v) => r0 + ((f(v) - a) / (b - a)) * (r1 - r0);
  map.invert = (px) => inv(a + ((px - r0) / (r1 - r0)) * (b - a));
  map.domain = [lo, hi];
  map.ticks = () => (log ? logTicks(lo, hi) : linearTicks(lo, hi));
  map.log = log;
  return map;
}

function tickLabel(value) {
  const abs = Math.abs(value);
  if (value !== 0 && (abs >= 1e5 || abs < 1e-3)) return value.toExponential(0);
  return String(Number(value.toPrecision(6)));
}

/** An <svg> with a frame, ticks, grid lines and axis labels for scales x and y. */
export function frame(x, y, { xLabel, yLabel, cls = "plot", formatX = tickLabel } = {}) {
  const { left, right, top, bottom } = MARGIN;
  const plot = s("svg", {
    class: cls,
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    preserveAspectRatio: "xMidYMid meet",
    role: "img",
  });
  const axes = s("g", { class: "axes" });
  for (const t of x.ticks()) {
    const px = x(t);
    axes.append(
      s("line", { class: "grid", x1: px, x2: px, y1: top, y2: HEIGHT - bottom }),
      s("text", { class: "tick", x: px, y: HEIGHT - bottom + 16, "text-anchor": "middle" }, formatX(t)),
    );
  }
  for (const t of y.ticks()) {
    const py = y(t);
    axes.append(
      s("line", { class: "grid", x1: left, x2: WIDTH - right, y1: py, y2: py }),
      s("text", { class: "tick", x: left - 6, y: py + 4, "text-anchor": "end" }, tickLabel(t)),
    );
  }
  axes.append(
    s("rect", { class: "frame", x: left, y: top, width: WIDTH - left - right, height: HEIGHT - top - bottom }),
    s("text", { class: "label", x: (left + WIDTH - right) / 2, y: HEIGHT - 6, "text-anchor": "middle" }, xLabel),
    s("text", {
      class: "label",
      transform: `translate(14 ${(top + HEIGHT - bottom) / 2}) rotate(-90)`,
      "text-anchor": "middle",
    }, yLabel),
  );
  plot.append(axes);
  return plot;
}

/** The x and y pixel ranges inside the frame. */
export const xRange = () => [MARGIN.left, WIDTH - MARGIN.right];
export const yRange = () => [HEIGHT - MARGIN.bottom, MARGIN.top];

/** A line under a plot that shows what the pointer is on. */
export function readout(text = "Point at a marker for its values.") {
  return h("p", { class: "readout", "aria-live": "polite" }, text);
}

/** The viewBox coordinates of a pointer event over an <svg>. */
export function pointerIn(svgEl, event) {
  const point = new DOMPoint(event.clientX, event.clientY);
  return point.matrixTransform(svgEl.getScreenCTM().inverse());
}
