// Jobs: the list and one job, both updated live from the job events of the
// WebSocket (status, progress, messages); a running job's log is re-read as it grows.

import { api } from "../api.js";
import { cancelJob, reprocessRangePanel } from "../control.js";
import { badge, errorBox, fields, fill, h, link, progressBar, setProgress, table } from "../dom.js";
import * as f from "../format.js";
import { liveBadge, subscribe } from "../live.js";
import { exportLinks, listPage, section, settle } from "../ui.js";

const FILTERS = [
  { name: "status", label: "Status", options: ["pending", "running", "succeeded", "failed", "cancelled"] },
  { name: "job_type", label: "Type", size: 10 },
  { name: "group_id", label: "Group", size: 20 },
];
// Lines of a log shown, and how often a running job's log is re-read (ms).
const LOG_LINES = 200;
const LOG_POLL_MS = 3000;

const jobLink = (runId) => link(`/jobs/${encodeURIComponent(runId)}`, runId);

const COLUMNS = [
  { label: "Run", value: (j) => jobLink(j.run_id) },
  { label: "Type", value: (j) => j.job_type },
  { label: "Status", sort: "status", value: (j) => badge(j.status), cls: "status" },
  { label: "Progress", value: (j) => progressBar(j.progress), cls: "progress-cell" },
  { label: "Message", value: () => "", cls: "message" },
  { label: "Group", value: (j) => (j.group_id ? link(`/groups/${encodeURIComponent(j.group_id)}`, j.group_id) : "—") },
  { label: "Created", sort: "created_at", value: (j) => f.time(j.created_at) },
  { label: "Duration", sort: "duration_s", value: (j) => f.seconds(j.duration_s), cls: "num" },
  { label: "Host", value: (j) => j.host ?? "—" },
];

/** Show an event's status, progress and message in the cells of `holder`. */
function applyEvent(holder, payload) {
  const status = holder.querySelector(".status");
  if (status && payload.status) status.replaceChildren(badge(payload.status));
  const bar = holder.querySelector(".progress");
  const progress = payload.status === "succeeded" ? 1 : payload.progress;
  if (bar && progress !== undefined && progress !== null) setProgress(bar, progress);
  const message = holder.querySelector(".message");
  if (message && (payload.message || payload.error)) message.textContent = payload.error || payload.message;
}

export async function list(ctx) {
  const [live, setLive] = liveBadge();
  const options = {
    title: "Jobs",
    path: "/api/jobs",
    base: "/jobs",
    filters: FILTERS,
    empty: "No job matches.",
    intro: ["Every pipeline stage and batch request is a job; this list follows them live. ", live],
    before: () => [h("p", {}, exportLinks("/api/export/jobs")), reprocessRangePanel()],
    columns: COLUMNS,
    rowKey: (j) => j.run_id,
  };
  // Subscribed before the list loads, so no event falls between the two. A job
  // that may now belong on the first page (a new one, or one entering the status
  // filtered for) reloads the list, at most once a second.
  let reload = null;
  const status = ctx.query.get("status");
  const belongs = (event) => event.kind === "created" || (status && event.payload?.status === status);
  const onEvent = (event) => {
    const runId = event.payload?.run_id;
    const row = [...ctx.root.querySelectorAll("tr[data-key]")].find((tr) => tr.dataset.key === runId);
    if (row) {
      applyEvent(row, event.payload);
    } else if (!reload && belongs(event) && !Number(ctx.query.get("offset"))) {
      reload = setTimeout(() => {
        reload = null;
        listPage(ctx, options);
      }, 1000);
    }
  };
  // Events were missed (a long disconnection): read the page again.
  const onResync = () => listPage(ctx, options);
  ctx.onLeave(subscribe(["job:*"], onEvent, setLive, onResync));
  ctx.onLeave(() => clearTimeout(reload));
  await listPage(ctx, options);
}

async function logPanel(job) {
  if (!job.log_path) return h("p", { class: "empty" }, "No log recorded for this job.");
  const log = await settle(api(`/api/jobs/${encodeURIComponent(job.run_id)}/logs`, { tail: LOG_LINES }));
  if (log instanceof Error) return errorBox(log);
  return [
    log.truncated ? h("p", { class: "note" }, `The last ${log.lines.length} lines of ${log.path}.`) : h("p", { class: "note" }, log.path),
    h("pre", { class: "log" }, log.lines.join("\n")),
  ];
}

/** Put a log panel into `holder`, following the end unless the reader scrolled up. */
function showLog(holder, panel) {
  const old = holder.querySelector("pre.log");
  const follow = !old || old.scrollTop + old.clientHeight >= old.scrollHeight - 4;
  const top = old ? old.scrollTop : 0;
  fill(holder, panel);
  const pre = holder.querySelector("pre.log");
  if (pre) pre.scrollTop = follow ? pre.scrollHeight : top;
}

function provenance(job) {
  return fields([
    ["Type", job.job_type],
    ["Status", h("span", { class: "status" }, badge(job.status))],
    ["Progress", h("span", { class: "progress-cell" }, progressBar(job.progress))],
    ["Message", h("span", { class: "message" }, job.error ?? "")],
    ["Group", job.group_id ? link(`/groups/${encodeURIComponent(job.group_id)}`, job.group_id) : null],
    ["Attempt", String(job.attempt)],
    ["Host", job.host],
    ["Software version", job.software_version],
    ["Requested by", job.requested_by],
    ["Created", f.time(job.created_at)],
    ["Started", f.time(job.started_at)],
    ["Finished", f.time(job.finished_at)],
    ["Duration", f.seconds(job.duration_s)],
    ["Parameters", h("pre", {}, f.json(job.params))],
    ["Inputs", h("pre", {}, f.json(job.inputs))],
    ["Outputs", h("pre", {}, f.json(job.outputs))],
  ]);
}

export async function detail(ctx) {
  const [runId] = ctx.params;
  const path = `/api/jobs/${encodeURIComponent(runId)}`;
  ctx.setTitle(`Job ${runId}`);
  const [live, setLive] = liveBadge();
  const summary = h("div", { id: "job-summary" });
  const logs = h("div", { id: "job-log" });
  const related = h("div");
  const show = async (job) => {
    fill(summary, provenance(job));
    fill(related,
      job.items.length ? section("Batch items", table([
        { label: "#", value: (i) => String(i.position), cls: "num" },
        { label: "Item", value: (i) => `${i.item_type} ${i.item_key}` },
        { label: "Status", value: (i) => badge(i.status) },
        { label: "Error", value: (i) => i.error ?? "" },
      ], job.items)) : null,
      job.children.length ? section("Jobs it started", table(COLUMNS, job.children, { rowKey: (j) => j.run_id })) : null);
    showLog(logs, await logPanel(job));
  };
  let job = null;
  let refreshing = false;
  let again = false; // an event came during a refresh: read once more after it
  const refresh = async () => {
    if (!job) return;
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    do {
      again = false;
      const next = await settle(api(path));
      if (!(next instanceof Error)) {
        job = next;
        await show(job);
      }
    } while (again);
    refreshing = false;
  };
  ctx.onLeave(subscribe([`job:${runId}`], (event) => {
    applyEvent(summary, event.payload);
    if (event.kind !== "progress") refresh();
  }, setLive, refresh));
  const poll = setInterval(() => {
    if (job?.status === "running") logPanel(job).then((panel) => showLog(logs, panel));
  }, LOG_POLL_MS);
  ctx.onLeave(() => clearInterval(poll));
  const [loaded, origin] = await Promise.all([api(path), api(`${path}/provenance`)]);
  job = loaded;
  fill(
    ctx.root,
    h("h1", {}, `Job ${job.run_id} `, live),
    origin.parent_run_id ? h("p", {}, "Part of ", jobLink(origin.parent_run_id)) : null,
    summary,
    ["pending", "running"].includes(job.status) ? cancelJob(job.run_id) : null,
    related,
    section("Log", logs),
  );
  await show(job);
}
