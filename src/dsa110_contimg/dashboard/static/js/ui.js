// Pieces shared by the pages: hash routes with queries, filter forms, list pages.

import { api, apiUrl } from "./api.js";
import { errorBox, fill, h, pager, table } from "./dom.js";

/** A route ("/sources") with a query (URLSearchParams or object), empty values left out. */
export function route(base, query = {}) {
  const params = new URLSearchParams();
  const entries = query instanceof URLSearchParams ? query.entries() : Object.entries(query);
  for (const [key, value] of entries) {
    if (value !== null && value !== undefined && value !== "") params.set(key, value);
  }
  const text = params.toString();
  return text ? `${base}?${text}` : base;
}

/** The query with some keys replaced. */
export function withQuery(query, changes) {
  const next = new URLSearchParams(query);
  for (const [key, value] of Object.entries(changes)) {
    if (value === null || value === undefined || value === "") next.delete(key);
    else next.set(key, value);
  }
  return next;
}

function control(field, value) {
  const id = `filter-${field.name}`;
  if (field.options) {
    const options = [["", field.any || "any"], ...field.options.map((o) => (Array.isArray(o) ? o : [o, o]))];
    return h("select", { id, name: field.name }, options.map(([v, label]) =>
      h("option", { value: v, selected: v === value }, label)));
  }
  if (field.type === "checkbox") {
    return h("input", { id, name: field.name, type: "checkbox", value: "true", checked: value === "true" });
  }
  return h("input", {
    id,
    name: field.name,
    type: field.type || "text",
    value: value ?? "",
    step: field.step || (field.type === "number" ? "any" : null),
    placeholder: field.placeholder,
    size: field.size || 10,
  });
}

/** A filter form over the query's keys; applying it opens `base` with the new query. */
export function filterForm(fields, query, base) {
  const form = h(
    "form",
    { class: "filters" },
    fields.map((field) => h("label", { for: `filter-${field.name}` }, field.label, control(field, query.get(field.name)))),
    h("button", { type: "submit" }, "Apply"),
    h("a", { href: "#" + base, class: "reset" }, "Reset"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const next = withQuery(query, { offset: null });
    for (const field of fields) next.set(field.name, data.get(field.name) ?? "");
    location.hash = "#" + route(base, next);
  });
  return form;
}

/** The API parameters a query holds for the given filter fields, with its page. */
export function listParams(query, fields, limit = 50) {
  const params = { limit, offset: query.get("offset") || 0, sort: query.get("sort") };
  for (const field of fields) params[field.name] = query.get(field.name);
  return params;
}

/**
 * A list page: heading, filters, then a table of one page of `path` with a pager.
 * `columns` as for table(); `before(page)` may add content above the table.
 */
export async function listPage(ctx, { title, path, base, filters = [], columns, empty, intro, before, rowKey }) {
  ctx.setTitle(title);
  const page = await settle(api(path, listParams(ctx.query, filters)));
  const head = [
    h("h1", {}, title),
    intro ? h("p", { class: "intro" }, intro) : null,
    filters.length ? filterForm(filters, ctx.query, base) : null,
  ];
  if (page instanceof Error) {
    fill(ctx.root, head, errorBox(page)); // the filters stay, to correct them
    return page;
  }
  fill(
    ctx.root,
    head,
    before ? await before(page) : null,
    pager(page, (offset) => route(base, withQuery(ctx.query, { offset }))),
    table(sortable(columns, ctx.query, base), page.items, { empty, rowKey }),
  );
  return page;
}

/** Columns with a `sort` key get a header link that sorts by it (again: the other way). */
function sortable(columns, query, base) {
  const current = query.get("sort");
  return columns.map((c) => {
    if (!c.sort) return c;
    const next = current === c.sort ? `-${c.sort}` : c.sort;
    const arrow = current === c.sort ? " ▲" : current === `-${c.sort}` ? " ▼" : "";
    const label = h("a", { href: "#" + route(base, withQuery(query, { sort: next, offset: null })), class: "sort" }, c.label + arrow);
    return { ...c, label };
  });
}

/** A section with a heading. */
export function section(title, ...children) {
  return h("section", { class: "panel" }, h("h2", {}, title), children);
}

/** Links to download an export in each format. */
export function exportLinks(path, params = {}) {
  return h("span", { class: "exports" }, "Export: ", ["csv", "json", "votable"].map((format) =>
    h("a", { href: apiUrl(path, { ...params, format }), download: "" }, format.toUpperCase())));
}

/** A promise that resolves to its value or to its error (for pages whose panels fail alone). */
export const settle = (promise) => promise.catch((err) => err);

/** `render(value)`, or a readable error if the value is an error. */
export const orError = (value, render) => (value instanceof Error ? errorBox(value) : render(value));
