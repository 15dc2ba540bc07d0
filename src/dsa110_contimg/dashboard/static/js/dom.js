// Building the DOM without HTML strings (no injection from data) and small shared widgets.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(element, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "on") {
      for (const [event, handler] of Object.entries(value)) element.addEventListener(event, handler);
    } else if (key === "text") {
      element.textContent = value;
    } else {
      element.setAttribute(key, value === true ? "" : value);
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** An HTML element: h("a", {href: "#/", class: "x", on: {click}}, "text", child, [more]). */
export function h(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element, as h(). */
export function s(tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** A link to a dashboard page. */
export function link(route, label) {
  return h("a", { href: "#" + route }, label);
}

/**
 * A table: columns are {label, value: row => string | Node, cls}.
 * An empty list shows `empty` in one cell; `rowKey(row)` names rows (data-key).
 */
export function table(columns, rows, { empty = "Nothing here yet.", cls = "", rowKey = null } = {}) {
  const head = h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.cls }, c.label))));
  const row = (r) => h("tr", { "data-key": rowKey && rowKey(r) }, columns.map((c) => h("td", { class: c.cls }, c.value(r))));
  const body = h(
    "tbody",
    {},
    rows.length ? rows.map(row) : h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, empty)),
  );
  return h("table", { class: `data ${cls}`.trim() }, head, body);
}

/** A definition list of [label, value] pairs (null values shown as a dash). */
export function fields(pairs) {
  return h(
    "dl",
    { class: "fields" },
    pairs.map(([label, value]) => [h("dt", {}, label), h("dd", {}, value ?? "—")]),
  );
}

/** A coloured badge for a state (status, stage, grade, kind). */
export function badge(state) {
  if (state === null || state === undefined) return "—";
  return h("span", { class: `badge badge-${String(state).replace(/[^a-z_-]/gi, "")}` }, state);
}

/** A progress bar for a fraction 0..1 (null: nothing). */
export function progressBar(fraction) {
  const bar = h("span", { class: "progress-fill" });
  const wrap = h("span", { class: "progress", role: "progressbar" }, bar);
  setProgress(wrap, fraction);
  return wrap;
}

/** Update a progress bar made by progressBar(). */
export function setProgress(wrap, fraction) {
  const pct = fraction === null || fraction === undefined ? 0 : Math.round(fraction * 100);
  wrap.setAttribute("aria-valuenow", String(pct));
  wrap.title = `${pct}%`;
  wrap.firstChild.style.width = `${pct}%`; // CSSOM, allowed by the CSP
}

/** A readable message for an error (an ApiError or any other). */
export function errorBox(err) {
  const notFound = err && err.status === 404;
  const title = notFound ? "Not found" : err && err.status ? `Error ${err.status}` : "Error";
  return h(
    "div",
    { class: "error-box", role: "alert" },
    h("strong", {}, title + ": "),
    (err && err.message) || String(err),
  );
}

/** "rows a–b of N" with previous/next links that change the `offset` of a query. */
export function pager(page, routeFor) {
  const { total, limit, offset } = page;
  const first = total ? offset + 1 : 0;
  const last = Math.min(offset + limit, total);
  const prev = offset > 0 ? link(routeFor(Math.max(0, offset - limit)), "← previous") : null;
  const next = offset + limit < total ? link(routeFor(offset + limit), "next →") : null;
  return h("p", { class: "pager" }, h("span", { class: "count" }, `${first}–${last} of ${total}`), prev, next);
}

/** Replace the children of an element. */
export function fill(element, ...children) {
  element.replaceChildren();
  return build(element, {}, children);
}
