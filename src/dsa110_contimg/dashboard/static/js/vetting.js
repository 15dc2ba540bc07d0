// Vetting of a candidate or a source (verdict with a reason, tags, comments, the whole
// history) and links to the survey cut-out services. Writes go through api.write (the
// signed-in user's session and CSRF token); the API keeps every step as history.

import { api, write } from "./api.js";
import { badge, errorBox, fill, h } from "./dom.js";
import * as f from "./format.js";

export const VERDICTS = [
  ["confirmed", "Confirm", "c"],
  ["dismissed", "Dismiss", "d"],
  ["needs_follow_up", "Follow up", "f"],
];

const PLURAL = { candidate: "candidates", source: "sources" };

function historyLine(row) {
  const what = {
    verdict: () => [badge(row.value), row.text ? ` — ${row.text}` : ""],
    tag: () => ["tagged ", h("span", { class: "tag" }, row.value)],
    untag: () => ["untagged ", h("span", { class: "tag" }, row.value)],
    comment: () => ["commented: ", h("q", {}, row.text)],
    comment_edit: () => [`edited comment #${row.comment_id}: `, h("q", {}, row.text)],
    rating: () => ["rated ", badge(row.value), row.text ? ` — ${row.text}` : ""],
  }[row.kind];
  return h("li", { class: `history-${row.kind}` }, h("time", {}, f.time(row.created_at)), " ", h("b", {}, row.author), " ", what ? what() : row.kind);
}

/**
 * A panel to vet `target` ("candidate" or "source") `id`; `onChange(vetting)` after a write.
 * Returns {element, verdict(value)} so a page can give verdicts from the keyboard.
 */
export function vettingPanel(target, id, onChange = () => {}) {
  const base = `/api/${PLURAL[target]}/${id}`;
  const element = h("section", { class: "panel vetting", "data-target": `${target}:${id}` }, h("p", { class: "loading" }, "Loading…"));
  let reasonInput;

  async function run(promise) {
    try {
      const vetting = await promise;
      render(vetting);
      onChange(vetting);
    } catch (err) {
      element.append(errorBox(err));
    }
  }
  const verdict = (value) => run(write("POST", `${base}/verdict`, { verdict: value, reason: reasonInput?.value || null }));

  function render(v) {
    reasonInput = h("input", { type: "text", name: "reason", placeholder: "reason (optional)", size: 30 });
    const tagInput = h("input", { type: "text", name: "tag", placeholder: "add a tag", size: 14 });
    const tagForm = h("form", { class: "tag-form" }, tagInput, h("button", { type: "submit" }, "Tag"));
    tagForm.addEventListener("submit", (e) => {
      e.preventDefault();
      if (tagInput.value.trim()) run(write("POST", `${base}/tags`, { tag: tagInput.value }));
    });
    const commentInput = h("textarea", { name: "comment", rows: 2, cols: 50, placeholder: "comment" });
    const commentForm = h("form", { class: "comment-form" }, commentInput, h("button", { type: "submit" }, "Comment"));
    commentForm.addEventListener("submit", (e) => {
      e.preventDefault();
      if (commentInput.value.trim()) run(write("POST", `${base}/comments`, { text: commentInput.value }));
    });
    const comment = (c) => {
      const text = h("span", { class: "comment-text" }, c.text);
      const edit = h("button", { type: "button", class: "edit-comment" }, "Edit");
      const item = h("li", { "data-comment": c.id }, h("b", {}, c.author), " ", h("time", {}, f.time(c.created_at)),
        c.edited_at ? h("span", { class: "edited" }, ` (edited ${f.time(c.edited_at)})`) : "", ": ", text, " ", edit);
      edit.addEventListener("click", () => {
        const box = h("textarea", { name: "edit", rows: 2, cols: 50 }, c.text);
        const form = h("form", { class: "edit-form" }, box, h("button", { type: "submit" }, "Save"));
        form.addEventListener("submit", (e) => {
          e.preventDefault();
          run(write("PATCH", `/api/vetting/comments/${c.id}`, { text: box.value }));
        });
        fill(item, form);
      });
      return item;
    };
    fill(
      element,
      h("h2", {}, "Vetting"),
      h("p", { class: "verdict" }, "Verdict: ", v.verdict ? badge(v.verdict) : "not yet given",
        v.reason ? ` — ${v.reason}` : "", v.verdict_by ? ` (${v.verdict_by}, ${f.time(v.verdict_at)})` : ""),
      h("p", { class: "verdict-buttons" }, reasonInput, VERDICTS.map(([value, label, key]) =>
        h("button", { type: "button", "data-verdict": value, title: `key ${key}`, on: { click: () => verdict(value) } }, `${label} (${key})`))),
      h("p", { class: "tags" }, "Tags: ", v.tags.length ? v.tags.map((t) =>
        h("span", { class: "tag", "data-tag": t }, t, " ", h("button", { type: "button", class: "untag", title: `remove ${t}`,
          on: { click: () => run(write("DELETE", `${base}/tags/${encodeURIComponent(t)}`)) } }, "×"))) : "none", tagForm),
      h("h3", {}, "Comments"),
      h("ul", { class: "comments" }, v.comments.map(comment)),
      commentForm,
      h("details", { class: "history", open: true }, h("summary", {}, `History (${v.history.length})`),
        h("ol", {}, v.history.map(historyLine))),
    );
  }

  api(`${base}/vetting`).then(render, (err) => fill(element, errorBox(err)));
  return { element, verdict };
}

/** Links to the survey cut-out services at (ra, dec) in degrees (links only). */
export function surveyLinks(ra, dec) {
  const pos = `${ra.toFixed(5)} ${dec >= 0 ? "+" : ""}${dec.toFixed(5)}`;
  const q = encodeURIComponent(pos);
  const links = [
    ["NVSS", `https://www.cv.nrao.edu/cgi-bin/postage.pl?RA=${q}&Equinox=J2000&Size=0.25&Cells=15&Type=image/jpeg`],
    ["FIRST", `https://third.ucllnl.org/cgi-bin/firstimage?RA=${q}&Equinox=J2000&ImageSize=4.5&MaxInt=10&ImageType=GIF`],
    ["VLASS", `https://cutouts.cirada.ca/get_cutout/?position=${q}&radius=0.05&survey=VLASS&format=png`],
  ];
  return h("p", { class: "survey-links" }, "Cut-outs: ", links.map(([name, url]) =>
    h("a", { href: url, target: "_blank", rel: "noopener noreferrer", "data-survey": name }, name)));
}
