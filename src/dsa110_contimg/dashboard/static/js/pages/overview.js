// Overview: is data flowing (health, worker, jobs), what is there (counts),
// the last groups and images, and where on the sky the images are.

import { api } from "../api.js";
import { badge, fill, h, link, table } from "../dom.js";
import * as f from "../format.js";
import { liveBadge, subscribe } from "../live.js";
import { skyCoverage } from "../sky.js";
import { orError, section, settle } from "../ui.js";

const sum = (counts) => Object.values(counts).reduce((a, b) => a + b, 0);

function card(key, label, total, route, breakdown = null) {
  const parts = breakdown ? Object.entries(breakdown).map(([state, n]) => h("li", {}, badge(state), ` ${n}`)) : [];
  return h(
    "a",
    { class: "card", href: "#" + route, "data-stat": key },
    h("span", { class: "value" }, String(total)),
    h("span", { class: "name" }, label),
    parts.length ? h("ul", { class: "breakdown" }, parts) : null,
  );
}

function counts(stats) {
  return h(
    "div",
    { class: "cards" },
    card("groups", "Observation groups", sum(stats.groups_by_state), "/", stats.groups_by_state),
    card("ms", "Measurement Sets", sum(stats.ms_by_stage), "/ms", stats.ms_by_stage),
    card("images", "Images", stats.images, "/images"),
    card("sources", "Sources", stats.sources, "/sources"),
    card("photometry_rows", "Measurements", stats.photometry_rows, "/sources"),
    card("candidates", "Candidates", sum(stats.candidates_by_status), "/candidates", stats.candidates_by_status),
    card("cal_tables", "Calibration tables", sum(stats.cal_tables_by_status), "/cal", stats.cal_tables_by_status),
    card("jobs", "Jobs", sum(stats.jobs_by_status), "/jobs", stats.jobs_by_status),
    card("mosaics", "Mosaics", stats.mosaics, "/mosaics"),
  );
}

function database(check) {
  const { error, revision, expected } = check.detail;
  if (error) return ` unreachable (${error})`;
  return ` schema ${revision ?? "none"}${check.ok ? "" : `, the code expects ${expected}`}`;
}

function status(health, stats) {
  const worker = health.worker.detail;
  const disk = health.disk.detail;
  const jobs = stats instanceof Error ? null : stats.jobs_by_status;
  const check = (ok) => badge(ok ? "ok" : "failed");
  return h(
    "dl",
    { class: "fields" },
    h("dt", {}, "Pipeline"), h("dd", { id: "pipeline-status" }, badge(health.status), ` version ${health.version}`),
    h("dt", {}, "Database"), h("dd", {}, check(health.database.ok), database(health.database)),
    h("dt", {}, "Worker"), h("dd", {}, health.worker.ok ? badge("ok") : badge(worker.last_heartbeat ? "stale" : "none"),
      worker.last_heartbeat ? ` last heartbeat ${f.time(worker.last_heartbeat)} (${f.seconds(worker.age_s)} ago)` : " no heartbeat yet"),
    h("dt", {}, "Disk"), h("dd", {}, check(health.disk.ok), ` ${f.bytes(disk.free_bytes)} free of ${f.bytes(disk.total_bytes)}`),
    jobs && [h("dt", {}, "Jobs"), h("dd", {}, `${jobs.running || 0} running, ${jobs.pending || 0} pending, ${jobs.failed || 0} failed `,
      link("/jobs?status=running", "running jobs"))],
  );
}

const GROUP_COLUMNS = [
  { label: "Group", value: (g) => link(`/groups/${encodeURIComponent(g.id)}`, g.id) },
  { label: "Start (MJD)", value: (g) => f.mjd(g.start_mjd), cls: "num" },
  { label: "Dec (deg)", value: (g) => f.fixed(g.dec_deg, 2), cls: "num" },
  { label: "Files", value: (g) => `${g.files_present}/${g.files_expected}`, cls: "num" },
  { label: "State", value: (g) => badge(g.state) },
];

const IMAGE_COLUMNS = [
  { label: "Image", value: (im) => link(`/images/${im.id}`, `#${im.id}`) },
  { label: "Type", value: (im) => im.image_type },
  { label: "MJD", value: (im) => f.mjd(im.mjd_obs), cls: "num" },
  { label: "Noise", value: (im) => f.mjy(im.noise_jy), cls: "num" },
  { label: "QA", value: (im) => badge(im.qa_grade) },
];

/**
 * The newest science images: primary-beam corrected ones, or all images if there are
 * none (the pipeline also registers each group's residual, model, PSF... images).
 */
async function sciencePage() {
  const corrected = await settle(api("/api/images", { pbcor: true, limit: 1000 }));
  return corrected instanceof Error || corrected.total ? corrected : settle(api("/api/images", { limit: 1000 }));
}

export async function render(ctx) {
  ctx.setTitle("Overview");
  // Each panel fails alone: with the database down, the health panel still says so.
  const [stats, health, groups, images] = await Promise.all([
    settle(api("/api/stats")),
    settle(api("/api/health/detailed")),
    settle(api("/api/groups", { limit: 10 })),
    sciencePage(),
  ]);
  const statusHolder = h("div", {}, orError(health, (value) => status(value, stats)));
  const countsHolder = h("div", { id: "counts" }, orError(stats, counts));
  const [live, setLive] = liveBadge();
  fill(
    ctx.root,
    h("h1", {}, "Overview ", live),
    section("Pipeline status", statusHolder),
    section("Counts", countsHolder),
    h("div", { class: "columns" },
      section("Last groups", orError(groups, (page) => table(GROUP_COLUMNS, page.items, { empty: "No groups yet." }))),
      section("Newest images", orError(images, (page) => table(IMAGE_COLUMNS, page.items.slice(0, 5), { empty: "No images yet." })))),
    section("Sky coverage", orError(images, (page) => [
      skyCoverage(page.items),
      h("p", { class: "note" }, page.items.length < page.total
        ? `The newest ${page.items.length} of ${page.total} ${page.items[0]?.pbcor ? "primary-beam corrected " : ""}images.`
        : `${page.total} ${page.items[0]?.pbcor ? "primary-beam corrected " : ""}images.`),
    ])),
  );
  // New products, job changes and worker heartbeats change the status and counts:
  // re-read them at most every 2 s, and every minute anyway (disk space).
  let timer = null;
  const refresh = () => {
    timer = timer || setTimeout(async () => {
      timer = null;
      const [nextStats, nextHealth] = await Promise.all([settle(api("/api/stats")), settle(api("/api/health/detailed"))]);
      fill(statusHolder, orError(nextHealth, (value) => status(value, nextStats)));
      fill(countsHolder, orError(nextStats, counts));
    }, 2000);
  };
  const topics = ["job:*", "group", "ms", "cal", "image", "photometry", "source", "candidate", "mosaic", "worker"];
  ctx.onLeave(subscribe(topics, refresh, setLive, refresh));
  const minutely = setInterval(refresh, 60000);
  ctx.onLeave(() => {
    clearTimeout(timer);
    clearInterval(minutely);
  });
}
