"""A day, unattended: the stream daemon on a simulated stream, the API under load, retention on.

What runs (all real processes, all on 127.0.0.1):

- ``dsa110 stream``, the daemon, watching an incoming folder;
- a feeder that writes each group's 16 subband files into that folder at a
  fixed cadence, as the correlator does (each file written in place in
  chunks, so the ingest's settle check sees files grow);
- ``dsa110 serve`` (uvicorn) with a bounded client loop of ``--api-clients``
  threads at ``--api-rate`` requests per second in all, cycling over the
  lists (images, sources, MS, jobs, groups), one light curve, one image,
  the stats and the health;
- retention (``dsa110 retention apply``) after every ``--retention-every``
  groups, when that command exists; otherwise the output says
  ``RETENTION: NOT AVAILABLE`` and disk use is measured without it.

Per group that ends (done or failed) it records: daemon and API RSS (psutil;
the daemon's process alone and with its children), products DB size (with
its WAL), disk used under the data root before and after retention, the API's
p95 latency since the previous group, API errors (5xx or no answer), groups
failed so far and the events table's rows. It prints a table, a least-squares
slope of each RSS against the group number (MB per group, and per day of 288
groups, after ``--warmup`` groups), and writes ``soak.csv``, ``requests.csv``
and ``soak.png`` (RSS and p95 over time) into ``--out``. It exits 1 if a
group failed or the API answered 5xx.

    # the check (about 17 min here): 48 groups of the `test` size, one every 20 s,
    # retention ages short enough that every class is purged within the run
    python benchmarks/soak.py --groups 48 --out /tmp/soak-48 \
        --retention-days raw=0.0005 --retention-days ms=0.001 \
        --retention-days intermediate=0.0005 --retention-days heartbeat=0.0005 \
        --retention-days event=0.002 --retention-days log=0.002
    # a full day, compressed (about 100 min here): 288 groups (24 calibrator
    # transits, 11 targets each) with the default retention ages scaled by 20/309
    python benchmarks/soak.py --groups 288 --cadence 20 --out /tmp/soak-day
    # a day at the real cadence and size (24 h; 2.3 GB per group of raw files)
    python benchmarks/soak.py --groups 288 --preset full --cadence 309 --tier standard \\
        --out /srv/soak-day

The simulation is set-up (not timed) and kept in ``--out``/sim; a second run
with the same ``--groups``, ``--preset`` and ``--sim-config`` reuses it.

The disk guard's thresholds are lowered to ``--disk-stop-gb`` free to stop
(default 1 GB) and twice that to warn: the settings' defaults (``disk_stop_free_gb``
20 GB, ``disk_warn_free_gb`` 200 GB) would hold every group on a test machine
with less than 20 GB free and report its disk low on most.

Measured (2 shared cores; 2026-12-04; short retention ages as in the first command):
- ``--groups 48`` before the preview fix (18:09, load ~1): daemon RSS 457 -> 848 MiB
  (each preview left ~22 MiB of reference cycles for a rare full collection).
- ``--groups 48`` after it (18:13-18:29, load 2-3 for the first 9 min, then 0.5-1.2):
  0 of 48 failed; API 3808 requests, p50 4.5 ms, p95 16.2 ms, 0 errors; daemon RSS
  426 -> 443 MiB (+0.25 MiB/group, +0.06 over groups 25-48), peak with children
  565 MiB; API 125 -> 167 MiB (+0.9 MiB/group: its response cache filling toward
  the 64 MiB bound; with ``DSA110_API_CACHE_TTL_S=0``, 24 groups: 125 -> 129 MiB);
  DB 5.5 MiB; disk +15 MiB/group after retention (kept classes); events ~540 rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

DAY_GROUPS = 288
CHUNKS_PER_FILE = 4


@dataclass
class Row:
    """One group's end, as the soak saw it."""

    n: int
    t_s: float
    group_id: str
    state: str
    daemon_rss_mb: float
    daemon_tree_peak_mb: float
    api_rss_mb: float
    db_mb: float
    disk_before_mb: float
    disk_after_mb: float
    api_requests: int
    api_p95_ms: float
    api_errors: int
    groups_failed: int
    events_rows: int


# -- set-up ---------------------------------------------------------------------
def simulate_stream(sim_dir: Path, args: argparse.Namespace) -> list[list[Path]]:
    """Simulate the stream into ``sim_dir`` (unless there); return its files by group."""
    from dsa110_contimg.simulate import load_sim_config, simulate

    epochs = -(-args.groups // args.per_epoch)
    stamp = sim_dir / "params.txt"
    key = f"{args.groups} {args.per_epoch} {args.preset} {args.sim_config}"
    if not (stamp.exists() and stamp.read_text() == key):
        shutil.rmtree(sim_dir, ignore_errors=True)
        cfg = load_sim_config(
            args.preset,
            args.sim_config,
            n_epochs=epochs,
            targets_per_epoch=args.per_epoch - 1,
            epoch_spacing_days=1.0,
        )
        t0 = time.perf_counter()
        simulate(cfg, sim_dir)
        stamp.write_text(key)
        print(f"simulated {cfg.n_groups} groups in {time.perf_counter() - t0:.0f} s (not timed)")
    by_group: dict[str, list[Path]] = defaultdict(list)
    for path in sorted((sim_dir / "incoming").glob("*.hdf5")):
        by_group[path.name.rsplit("_sb", 1)[0]].append(path)
    return [by_group[g] for g in sorted(by_group)][: args.groups]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dsa110(*args: str, env: dict[str, str], **kw) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "-m", "dsa110_contimg.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        **kw,
    )


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "wb")  # noqa: SIM115 (lives as long as the process)
    return subprocess.Popen(
        [sys.executable, "-m", "dsa110_contimg.cli", *args],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )


# -- the feeder -------------------------------------------------------------------
def feed(groups: list[list[Path]], incoming: Path, cadence_s: float, stop: threading.Event) -> None:
    """Write each group's files into ``incoming`` in place, in chunks, one group per cadence."""
    start = time.monotonic()
    for i, files in enumerate(groups):
        if stop.wait(max(0.0, start + i * cadence_s - time.monotonic())):
            return
        for path in files:
            data = path.read_bytes()
            step = -(-len(data) // CHUNKS_PER_FILE)
            with open(incoming / path.name, "wb") as out:
                for k in range(0, len(data), step):
                    out.write(data[k : k + step])
                    out.flush()
                    time.sleep(0.05)


# -- the API load -------------------------------------------------------------------
class ApiLoad:
    """A bounded client loop: ``clients`` threads, ``rate`` requests/s in all."""

    LISTS = (
        "/api/images?limit=50",
        "/api/sources?limit=50",
        "/api/ms?limit=50",
        "/api/jobs?limit=50",
        "/api/groups?limit=50",
        "/api/stats",
        "/api/health",
    )

    def __init__(self, base: str, rate: float, clients: int) -> None:
        self.base, self.clients = base, clients
        self.period = clients / rate
        self.samples: list[tuple[float, str, int, float]] = []  # t, kind, status, ms
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ids: dict[str, str] = {}

    def _paths(self) -> list[str]:
        paths = list(self.LISTS)
        if "source" in self._ids:
            paths.append(f"/api/sources/{self._ids['source']}/lightcurve")
        if "image" in self._ids:
            paths.append(f"/api/images/{self._ids['image']}")
        return paths

    def _learn(self, path: str, body: dict) -> None:  # type: ignore[type-arg]
        items = body.get("items") if isinstance(body, dict) else None
        if items and path.startswith("/api/sources?"):
            self._ids["source"] = str(items[0]["id"])
        if items and path.startswith("/api/images?"):
            self._ids["image"] = str(items[0]["id"])

    def _run(self, k: int) -> None:
        import httpx

        with httpx.Client(base_url=self.base, timeout=30.0) as client:
            i = k
            next_t = time.monotonic()
            while not self._stop.is_set():
                paths = self._paths()
                path = paths[i % len(paths)]
                i += 1
                t0 = time.perf_counter()
                try:
                    resp = client.get(path)
                    status = resp.status_code
                    if status == 200 and "?" in path:
                        self._learn(path, resp.json())
                except httpx.HTTPError:
                    status = 0
                ms = (time.perf_counter() - t0) * 1e3
                kind = path.split("?")[0].rstrip("0123456789/").replace("/api/", "")
                with self._lock:
                    self.samples.append((time.monotonic(), kind, status, ms))
                next_t += self.period
                self._stop.wait(max(0.0, next_t - time.monotonic()))

    def start(self) -> None:
        for k in range(self.clients):
            thread = threading.Thread(target=self._run, args=(k,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=40)

    def window(self, t0: float, t1: float) -> tuple[int, float, int]:
        """Requests, p95 latency (ms) and errors between monotonic times t0 and t1."""
        with self._lock:
            got = [(s, ms) for t, _, s, ms in self.samples if t0 <= t < t1]
        if not got:
            return 0, float("nan"), 0
        ms = [m for _, m in got]
        p95 = float(np.percentile(ms, 95))
        return len(got), p95, sum(1 for s, _ in got if s == 0 or s >= 500)


# -- measurements -------------------------------------------------------------------
def rss_mb(pid: int, *, tree: bool = False) -> float:
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)] if tree else [proc]
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total / 2**20
    except psutil.NoSuchProcess:
        return float("nan")


def disk_mb(root: Path, skip: Path | None = None) -> float:
    total = 0
    for folder, dirs, files in os.walk(root):
        if skip is not None and Path(folder) == skip:
            dirs[:] = []
            continue
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total / 2**20


def db_mb(db_file: Path) -> float:
    return (
        sum(
            Path(f"{db_file}{s}").stat().st_size
            for s in ("", "-wal")
            if Path(f"{db_file}{s}").exists()
        )
        / 2**20
    )


class Products:
    """Reads the group states and the events table's size (read-only)."""

    def __init__(self, db_url: str) -> None:
        from dsa110_contimg.products import make_engine

        self.engine = make_engine(db_url)

    def finished(self) -> list[tuple[str, str]]:
        import sqlalchemy as sa

        from dsa110_contimg.products.models import GroupState, ObservationGroup

        ended = (GroupState.DONE, GroupState.FAILED)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(ObservationGroup.id, ObservationGroup.state)
                .where(ObservationGroup.state.in_(ended))
                .order_by(ObservationGroup.updated_at)
            ).all()
        return [(g, str(getattr(s, "value", s))) for g, s in rows]

    def events(self) -> int:
        import sqlalchemy as sa

        from dsa110_contimg.products.models import Event

        with self.engine.connect() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(Event)))


def retention_available(env: dict[str, str]) -> bool:
    return _dsa110("retention", "--help", env=env).returncode == 0


def retention_env(args: argparse.Namespace, env: dict[str, str]) -> tuple[str, bool]:
    """Set the retention settings in ``env``; return the flag to print and whether to apply."""
    if args.retention == "off":
        return "off (--retention off)", False
    if not retention_available(env):
        return "NOT AVAILABLE (no `dsa110 retention` in this tree): disk grows unchecked", False
    from dsa110_contimg.config import Settings
    from dsa110_contimg.telescope import GROUP_DURATION_S

    scale = args.cadence / GROUP_DURATION_S
    ages: dict[str, str] = {}
    for name, info in Settings.model_fields.items():
        if name.startswith("retention_") and name.endswith("_days"):
            days = info.default
            ages[name[10:-5]] = "keep" if days == "keep" else f"{float(days) * scale:.6g}"
    for item in args.retention_days:
        name, _, days = item.partition("=")
        if name not in ages:
            raise SystemExit(f"--retention-days {item}: classes are {', '.join(ages)}")
        ages[name] = days
    for name, days in ages.items():
        env[f"DSA110_RETENTION_{name.upper()}_DAYS"] = days
    every_s = args.cadence * args.retention_every
    env["DSA110_RETENTION_INTERVAL_S"] = "0" if args.retention == "cli" else f"{every_s:g}"
    how = (
        f"dsa110 retention apply after every {args.retention_every} group(s)"
        if args.retention == "cli"
        else f"the daemon's schedule, every {every_s:g} s"
    )
    listed = ", ".join(f"{k} {v}" for k, v in ages.items())
    return f"on ({how}; days: {listed})", args.retention == "cli"


def slope_per_group(rows: list[Row], field: str, warmup: int) -> float:
    pts = [(r.n, getattr(r, field)) for r in rows if r.n > warmup]
    if len(pts) < 3:
        return float("nan")
    x, y = np.array(pts, dtype=float).T
    return float(np.polyfit(x, y, 1)[0])


# -- output ---------------------------------------------------------------------------
def write_outputs(out: Path, rows: list[Row], load: ApiLoad) -> None:
    with open(out / "soak.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(asdict(rows[0])) if rows else ["n"])
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    with open(out / "requests.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["t_monotonic", "endpoint", "status", "ms"])
        writer.writerows(load.samples)
    if not rows:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t_min = np.array([r.t_s for r in rows]) / 60
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    ax1.plot(t_min, [r.daemon_rss_mb for r in rows], "o-", label="daemon")
    ax1.plot(t_min, [r.daemon_tree_peak_mb for r in rows], ".:", label="daemon + children, peak")
    ax1.plot(t_min, [r.api_rss_mb for r in rows], "s-", label="API")
    ax1.set_ylabel("RSS (MiB)")
    ax1.legend()
    ax1.grid(alpha=0.3)
    ax2.plot(t_min, [r.api_p95_ms for r in rows], "o-", color="C3")
    ax2.set_ylabel("API p95 since previous group (ms)")
    ax2.set_xlabel("time since start (min); one point per group")
    ax2.grid(alpha=0.3)
    fig.suptitle(f"soak: {len(rows)} groups")
    fig.tight_layout()
    fig.savefig(out / "soak.png", dpi=110)


def print_table(rows: list[Row]) -> None:
    head = (
        f"{'n':>3} {'t min':>6} {'state':<6} {'daemon':>7} {'+kids':>7} {'api':>6} "
        f"{'db MB':>7} {'disk MB':>8} {'after':>8} {'req':>5} {'p95 ms':>7} {'err':>4} "
        f"{'fail':>4} {'events':>7}"
    )
    print(head)
    for r in rows:
        print(
            f"{r.n:>3} {r.t_s / 60:>6.1f} {r.state:<6} {r.daemon_rss_mb:>7.0f} "
            f"{r.daemon_tree_peak_mb:>7.0f} {r.api_rss_mb:>6.0f} {r.db_mb:>7.2f} "
            f"{r.disk_before_mb:>8.1f} {r.disk_after_mb:>8.1f} {r.api_requests:>5} "
            f"{r.api_p95_ms:>7.1f} {r.api_errors:>4} {r.groups_failed:>4} {r.events_rows:>7}"
        )


# -- main ---------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=48, help="groups in the stream (48)")
    parser.add_argument("--per-epoch", type=int, default=12, help="groups per calibrator (12)")
    parser.add_argument("--preset", default="test", help="simulation preset (test)")
    parser.add_argument("--sim-config", type=Path, help="TOML overriding the preset")
    parser.add_argument("--cadence", type=float, default=20.0, help="s between groups (20)")
    parser.add_argument("--tier", default="quicklook", help="imaging tier (quicklook)")
    parser.add_argument("--api-rate", type=float, default=4.0, help="API requests/s (4)")
    parser.add_argument("--api-clients", type=int, default=2, help="API client threads (2)")
    parser.add_argument(
        "--retention",
        choices=["cli", "daemon", "off"],
        default="cli",
        help="cli: `dsa110 retention apply` after every --retention-every groups, disk measured "
        "before and after (default); daemon: the daemon's own schedule "
        "(retention_interval_s = cadence x every); off",
    )
    parser.add_argument("--retention-every", type=int, default=1, help="groups between runs (1)")
    parser.add_argument(
        "--retention-days",
        action="append",
        default=[],
        metavar="CLASS=DAYS",
        help="retention age of a class (raw, ms, intermediate, log, event, heartbeat, caltable); "
        "default: the settings' defaults scaled by cadence / 309.24 s, so the compressed day "
        "ages products as a real one",
    )
    parser.add_argument(
        "--disk-stop-gb", type=float, default=1.0, help="disk guard's stop threshold (1 GB)"
    )
    parser.add_argument("--warmup", type=int, default=3, help="groups left out of the slopes")
    parser.add_argument("--timeout", type=float, default=None, help="give up after s")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args()

    out = args.out.absolute()
    out.mkdir(parents=True, exist_ok=True)
    groups = simulate_stream(out / "sim", args)
    root = out / "root"
    shutil.rmtree(root, ignore_errors=True)
    incoming = root / "incoming"
    incoming.mkdir(parents=True)
    env = {
        **os.environ,
        "DSA110_DATA_ROOT": str(root),
        "DSA110_INCOMING_DIR": str(incoming),
        "DSA110_DISK_WARN_FREE_GB": json.dumps({"default": 2 * args.disk_stop_gb}),
        "DSA110_DISK_STOP_FREE_GB": json.dumps({"default": args.disk_stop_gb}),
        "PYTHONUNBUFFERED": "1",
    }
    for cmd in (("db", "upgrade"), ("catalog", "import", "SIM", str(out / "sim" / "catalog.csv"))):
        done = _dsa110(*cmd, env=env)
        if done.returncode:
            raise SystemExit(f"dsa110 {' '.join(cmd)} failed: {done.stderr}")
    db_file = root / "state" / "products.sqlite3"
    flag, retention = retention_env(args, env)
    print(f"RETENTION: {flag}")

    port = _free_port()
    api = _start(["serve", "--host", "127.0.0.1", "--port", str(port)], env, out / "api.log")
    daemon = _start(
        ["stream", "--interval", "2", "--settle", "2", "--tier", args.tier], env, out / "daemon.log"
    )
    load = ApiLoad(f"http://127.0.0.1:{port}", args.api_rate, args.api_clients)
    stop = threading.Event()
    feeder = threading.Thread(target=feed, args=(groups, incoming, args.cadence, stop), daemon=True)
    products = Products(f"sqlite:///{db_file}")
    rows: list[Row] = []
    t_start = time.monotonic()
    deadline = t_start + (args.timeout or len(groups) * max(args.cadence, 60) + 600)
    try:
        _wait_for_api(port)
        load.start()
        feeder.start()
        seen: set[str] = set()
        last_t = time.monotonic()
        peak_tree = 0.0
        while len(seen) < len(groups):
            peak_tree = max(peak_tree, rss_mb(daemon.pid, tree=True))
            if daemon.poll() is not None or api.poll() is not None:
                raise SystemExit(f"a process died: see {out}/daemon.log and {out}/api.log")
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out with {len(seen)} of {len(groups)} groups ended")
            new = [(g, s) for g, s in products.finished() if g not in seen]
            for group_id, state in new:
                seen.add(group_id)
                now = time.monotonic()
                before = disk_mb(root)
                if retention and len(seen) % args.retention_every == 0:
                    applied = _dsa110("retention", "apply", env=env)
                    if applied.returncode:
                        print(f"retention apply failed: {applied.stderr.strip()}")
                after = disk_mb(root) if retention else before
                n_req, p95, errors = load.window(last_t, now)
                last_t = now
                failed = sum(1 for g, s in products.finished() if s == "failed")
                rows.append(
                    Row(
                        n=len(seen),
                        t_s=now - t_start,
                        group_id=group_id,
                        state=state,
                        daemon_rss_mb=rss_mb(daemon.pid),
                        daemon_tree_peak_mb=peak_tree,
                        api_rss_mb=rss_mb(api.pid, tree=True),
                        db_mb=db_mb(db_file),
                        disk_before_mb=before,
                        disk_after_mb=after,
                        api_requests=n_req,
                        api_p95_ms=p95,
                        api_errors=errors,
                        groups_failed=failed,
                        events_rows=products.events(),
                    )
                )
                r = rows[-1]
                peak_tree = 0.0
                print(
                    f"[{r.t_s / 60:5.1f} min] group {r.n}/{len(groups)} {group_id} {state}: "
                    f"daemon {r.daemon_rss_mb:.0f} MiB, API {r.api_rss_mb:.0f} MiB, "
                    f"p95 {p95:.0f} ms ({n_req} req), db {r.db_mb:.1f} MiB",
                    flush=True,
                )
            time.sleep(1.0)
    finally:
        stop.set()
        load.stop()
        for proc in (daemon, api):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (daemon, api):
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
        write_outputs(out, rows, load)

    print()
    print_table(rows)
    all_ms = [ms for *_, ms in load.samples]
    errors = sum(1 for _, _, s, _ in load.samples if s == 0 or s >= 500)
    client_errors = Counter(k for k, _, s, _ in load.samples if 400 <= s < 500)
    failed = rows[-1].groups_failed if rows else 0
    print(f"\n{len(rows)} groups in {rows[-1].t_s / 60:.1f} min; failed: {failed}")
    print(
        f"API: {len(all_ms)} requests, p50 {statistics.median(all_ms):.1f} ms, "
        f"p95 {np.percentile(all_ms, 95):.1f} ms, errors (5xx or none): {errors}, "
        f"4xx by endpoint: {dict(client_errors) or 'none'}"
    )
    for field in ("daemon_rss_mb", "daemon_tree_peak_mb", "api_rss_mb", "db_mb", "disk_after_mb"):
        slope = slope_per_group(rows, field, args.warmup)
        print(f"slope of {field:<20} {slope:+8.3f} MiB/group = {slope * DAY_GROUPS:+9.1f} MiB/day")
    print(f"events table: {rows[-1].events_rows} rows; RETENTION: {flag}")
    print(
        f"load (uptime): {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}"
    )
    print(f"outputs: {out}/soak.csv, requests.csv, soak.png; logs in {out}")
    return 1 if failed or errors else 0


def _wait_for_api(port: int, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("the API did not come up")


if __name__ == "__main__":
    sys.exit(main())
