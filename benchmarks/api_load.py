"""Load test of the web API: light-curve latency and list throughput over loopback.

Builds a products DB (SQLite by default) with 10^4 sources measured on 100
images (10^6 photometry rows) by bulk inserts through SQLAlchemy Core on the
models' tables, starts ``uvicorn`` on a free loopback port, and drives it with
concurrent keep-alive clients for a bounded time:

* light curves of random sources, every request a cache miss (a distinct
  ``miss=`` query parameter, which the route ignores): p50 / p95 latency,
  target p95 < 20 ms; then the same requests repeated (cache hits);
* list endpoints (sources, images, jobs, candidates; random pages and sorts):
  requests per second, target > 500 req/s on 2 cores; then every request a miss
  (``--per-endpoint``: then each list path alone, every request a miss).

The server and the load generator share the machine's cores, so each phase
also reports the CPU time per request of the server processes and of the
client processes. The default client is a minimal HTTP/1.1 one (about 0.1 ms
of CPU per request); ``--client httpx`` uses httpx (about 1.5 ms), which takes
a large share of 2 cores away from the server. "Other processes" are everything
else on the machine, a local PostgreSQL's backends included.

Run: ``.venv/bin/python benchmarks/api_load.py [--duration 10] [--workers 2]``
(``--db-url postgresql://...`` for PostgreSQL; ``--keep DIR`` reuses a loaded DB).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import sqlalchemy as sa

from dsa110_contimg.products import make_engine, session_scope, upgrade
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.db import make_session_factory
from dsa110_contimg.products.models import (
    Candidate,
    Image,
    Job,
    Photometry,
    Source,
    VariabilityMetrics,
)

P95_TARGET_MS = 20.0
THROUGHPUT_TARGET = 500.0


def load(url: str, n_sources: int, n_images: int, seed: int = 7) -> None:
    """Fill the DB with sources, images, photometry, metrics, candidates and jobs (Core inserts)."""
    engine = make_engine(url)
    rng = np.random.default_rng(seed)
    now = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        ras = rng.uniform(150.0, 170.0, n_sources)
        decs = rng.uniform(30.0, 50.0, n_sources)
        conn.execute(
            sa.insert(Source),
            [
                {"id": i + 1, "name": f"S{i:06d}", "ra_deg": float(ras[i]),
                 "dec_deg": float(decs[i]), "catalog": "sim", "is_reference": i % 50 == 0,
                 "created_at": now, "updated_at": now}
                for i in range(n_sources)
            ],
        )  # fmt: skip
        conn.execute(
            sa.insert(Image),
            [
                {"id": k + 1, "path": f"/bench/images/{k:04d}.fits", "image_type": "image",
                 "version": 1, "status": "ok", "mjd_obs": 61000.0 + k * 0.0036, "ra_deg": 160.0,
                 "dec_deg": 40.0, "size_x": 2400, "size_y": 2400, "cell_arcsec": 6.0,
                 "noise_jy": 1e-3, "pbcor": True, "created_at": now, "updated_at": now}
                for k in range(n_images)
            ],
        )  # fmt: skip
    base_flux = rng.lognormal(-3.0, 1.0, n_sources)
    with engine.begin() as conn:
        for k in range(n_images):
            flux = base_flux * (1 + rng.normal(0, 0.05, n_sources))
            conn.execute(
                sa.insert(Photometry),
                [
                    {"source_id": i + 1, "image_id": k + 1, "mjd": 61000.0 + k * 0.0036,
                     "flux_jy": float(flux[i]), "flux_err_jy": 1e-3, "snr": float(flux[i] / 1e-3),
                     "norm_flux_jy": float(flux[i]), "norm_flux_err_jy": 1e-3,
                     "is_upper_limit": False, "flags": 0, "created_at": now}
                    for i in range(n_sources)
                ],
            )  # fmt: skip
        conn.execute(
            sa.insert(VariabilityMetrics),
            [
                {"source_id": i + 1, "n_epochs": n_images, "eta": float(rng.exponential(1.0)),
                 "v": float(rng.exponential(0.05)), "mean_flux_jy": float(base_flux[i]),
                 "sum_w": 0.0, "sum_wf": 0.0, "sum_wf2": 0.0, "sum_f": 0.0, "sum_f2": 0.0,
                 "updated_at": now}
                for i in range(n_sources)
            ],
        )  # fmt: skip
        conn.execute(
            sa.insert(Candidate),
            [
                {"source_id": i + 1, "kind": "variable", "score": float(rng.uniform(3, 10)),
                 "status": "new", "created_at": now, "updated_at": now}
                for i in range(0, n_sources, 20)
            ],
        )  # fmt: skip
        conn.execute(
            sa.insert(Job),
            [
                {"run_id": f"bench-{j:05d}", "job_type": "image", "status": "succeeded",
                 "created_at": now, "attempt": 1}
                for j in range(2000)
            ],
        )  # fmt: skip
    with session_scope(make_session_factory(engine)) as session:
        repo.publish_event(session, "bench", "loaded", {"sources": n_sources})
    engine.dispose()
    rows = n_sources * n_images
    print(f"loaded {n_sources} sources, {n_images} images, {rows} photometry rows "
          f"in {time.perf_counter() - t0:.1f} s")  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, s) used so far by process ``pid`` and all its descendants (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:  # the process ended meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        todo.extend(int(c) for c in children)
    return total


def machine_busy_seconds() -> float:
    """CPU time (s) all processes of the machine spent so far, summed over cores (Linux)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def start_server(url: str, root: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    """``uvicorn`` with the app factory, as ``dsa110 serve`` runs it."""
    env = {**os.environ, "DSA110_DB_URL": url, "DSA110_DATA_ROOT": str(root)}
    cmd = [
        sys.executable, "-m", "uvicorn", "dsa110_contimg.api.app:app_from_env", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--log-level", "warning", "--no-access-log", "--loop", "uvloop", "--http", "httptools",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the API server did not start")


@dataclasses.dataclass
class Run:
    """What one phase measured: per-request latencies, their Server-Timing, errors, time, CPU."""

    latencies: list[float]
    server: list[float]
    errors: int
    elapsed: float
    client_cpu_s: float
    server_cpu_s: float = float("nan")
    #: CPU time (s) of every other process on the machine meanwhile (competition for the cores).
    others_cpu_s: float = float("nan")


class RawClient:
    """A minimal HTTP/1.1 keep-alive GET client on asyncio streams.

    It spends a fraction of ``httpx``'s CPU per request, so on a 2-core machine
    the load generator takes less of the cores the server needs. Responses
    must carry a Content-Length (every JSON read of the API does).
    """

    def __init__(self, base: str):
        self.host, _, port = base.removeprefix("http://").partition(":")
        self.port = int(port)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, dict[bytes, bytes]]:
        """Send one GET; return the status and the (lower-cased) headers, body read and dropped."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head[:-4].split(b"\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        await self.reader.readexactly(int(headers[b"content-length"]))
        return int(status_line.split()[1]), headers

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


class HttpxClient:
    """The same interface over ``httpx`` (a full client, several times the CPU per request)."""

    def __init__(self, base: str):
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self.client = httpx.AsyncClient(base_url=base, limits=limits, timeout=10)

    async def get(self, path: str) -> tuple[int, dict[bytes, bytes]]:
        response = await self.client.get(path)
        return response.status_code, {k.lower(): v for k, v in response.headers.raw}

    async def close(self) -> None:
        await self.client.aclose()


CLIENTS = {"raw": RawClient, "httpx": HttpxClient}


async def drive(base: str, paths: list[str], concurrency: int, duration: float, client: str) -> Run:
    """Send ``paths`` (cycled) from ``concurrency`` clients for ``duration`` s.

    Each client has its own keep-alive connection (one shared ``httpx`` pool
    slows down sharply with many connections, which would measure the client).
    """
    run = Run([], [], 0, 0.0, 0.0)
    deadline = time.perf_counter() + duration
    cursor = iter(range(10**9))

    async def worker() -> None:
        connection = CLIENTS[client](base)
        try:
            while time.perf_counter() < deadline:
                path = paths[next(cursor) % len(paths)]
                start = time.perf_counter()
                status, headers = await connection.get(path)
                run.latencies.append(time.perf_counter() - start)
                run.errors += status != 200
                timing = headers.get(b"server-timing", b"dur=nan").split(b"dur=")[-1]
                run.server.append(float(timing) / 1000)
        finally:
            await connection.close()

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    run.elapsed, run.client_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    return run


def _drive_in_process(args: tuple[str, list[str], int, float, str]) -> Run:
    return asyncio.run(drive(*args))


def drive_processes(
    base: str, paths: list[str], concurrency: int, duration: float, processes: int, client: str
) -> Run:
    """:func:`drive` from several client processes (one Python client tops out below the API)."""
    if processes <= 1:
        return asyncio.run(drive(base, paths, concurrency, duration, client))
    per = max(1, concurrency // processes)
    shares = [paths[i::processes] or paths for i in range(processes)]
    with ProcessPoolExecutor(processes) as pool:
        jobs = [(base, p, per, duration, client) for p in shares]
        results = list(pool.map(_drive_in_process, jobs))
    return Run(
        [x for r in results for x in r.latencies],
        [x for r in results for x in r.server],
        sum(r.errors for r in results),
        max(r.elapsed for r in results),
        sum(r.client_cpu_s for r in results),
    )


def measured(server_pid: int, phase: Callable[[], Run]) -> Run:
    """Run ``phase``; record the CPU time of the server processes and of everything else."""
    before, busy = cpu_seconds(server_pid), machine_busy_seconds()
    run = phase()
    run.server_cpu_s = cpu_seconds(server_pid) - before
    busy = machine_busy_seconds() - busy
    run.others_cpu_s = max(0.0, busy - run.server_cpu_s - run.client_cpu_s)
    return run


def report(name: str, run: Run) -> tuple[float, float]:
    """Print client-side percentiles, the server-side p95 (Server-Timing), the rate and CPU use.

    CPU is given per request, for the server processes and for the load
    generator, so the generator's share of the cores is visible; and the
    cores' worth of CPU that other processes of the machine took meanwhile.
    """
    ms = np.array(run.latencies) * 1000
    n = len(ms)
    p50, p95, rate = np.percentile(ms, 50), np.percentile(ms, 95), n / run.elapsed
    server_p95 = np.nanpercentile(np.array(run.server) * 1000, 95)
    print(f"{name:<38} n={n:6d} err={run.errors:2d} p50={p50:6.2f} ms p95={p95:6.2f} ms "
          f"p99={np.percentile(ms, 99):6.2f} ms server-p95={server_p95:5.2f} ms {rate:6.0f} req/s")  # fmt: skip
    print(f"{'':<38} CPU/req: server {1000 * run.server_cpu_s / n:.2f} ms, client "
          f"{1000 * run.client_cpu_s / n:.2f} ms; other processes used "
          f"{run.others_cpu_s / run.elapsed:.2f} of {os.cpu_count()} cores")  # fmt: skip
    return float(p95), float(rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", help="products DB (default: a new SQLite file)")
    parser.add_argument("--sources", type=int, default=10_000)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--latency-clients", type=int, default=4)
    parser.add_argument("--throughput-clients", type=int, default=16)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument(
        "--client",
        choices=sorted(CLIENTS),
        default="raw",
        help="load generator: a minimal HTTP/1.1 client (default) or httpx",
    )
    parser.add_argument("--keep", type=Path, help="folder of a DB to reuse or keep")
    parser.add_argument(
        "--per-endpoint",
        action="store_true",
        help="also drive each list path alone with cache misses (req/s and CPU per path)",
    )
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="dsa110-api-load-"))
    url = args.db_url or f"sqlite:///{root / 'state' / 'products.sqlite3'}"
    upgrade(url)  # a kept DB gets the indexes of newer migrations too
    engine = make_engine(url)
    try:
        loaded = sa.inspect(engine).has_table("photometry") and engine.connect().execute(
            sa.select(sa.func.count()).select_from(Photometry)
        ).scalar()  # fmt: skip
    finally:
        engine.dispose()
    if not loaded:
        load(url, args.sources, args.images)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    server = start_server(url, root, port, args.workers)
    try:
        rng = random.Random(1)
        ids = rng.sample(range(1, args.sources + 1), args.sources)
        # A distinct query per request: a cache miss every time (the route ignores ``miss``).
        curves = [f"/api/sources/{i}/lightcurve?miss={k}" for k in range(100) for i in ids]
        lists = [
            f"/api/sources?limit=50&offset={50 * rng.randrange(200)}&sort={sort}"
            for sort in ("id", "-eta", "dec_deg")
        ] + [
            f"/api/images?limit=50&offset={rng.randrange(50)}",
            f"/api/jobs?limit=50&offset={50 * rng.randrange(40)}",
            "/api/candidates?limit=50&sort=-score",
            "/api/sources?ra=160&dec=40&radius_deg=1&limit=50",
        ]
        rng.shuffle(lists)
        repeated = [f"/api/sources/{i}/lightcurve" for i in ids[:50]]
        uncached_lists = [f"{p}&miss={k}" for k in range(100_000) for p in lists]
        procs, client = args.client_processes, args.client
        # Warm-up (connections, imports, SQLite page cache), then the measured phases.
        asyncio.run(drive(base, curves[-400:] + lists + repeated, 4, 2.0, client))
        print(f"\nAPI load over loopback, {args.workers} uvicorn workers, {os.cpu_count()} cores, "
              f"{client} client, load average before {os.getloadavg()[0]:.1f} "
              "(other processes share the cores)")  # fmt: skip
        pid = server.pid

        def phase(paths: list[str], clients: int, duration: float) -> Run:
            if clients == 1:
                run = lambda: asyncio.run(drive(base, paths, 1, duration, client))  # noqa: E731
            else:
                run = lambda: drive_processes(base, paths, clients, duration, procs, client)  # noqa: E731
            return measured(pid, run)

        report("light curve, miss (1 client)", phase(curves[:3000], 1, args.duration / 2))
        lat_p95, _ = report(
            f"light curve, miss ({args.latency_clients} clients, {procs} procs)",
            phase(curves[3000:], args.latency_clients, args.duration),
        )
        report(
            f"light curve, repeated ({args.latency_clients} clients)",
            phase(repeated, args.latency_clients, args.duration / 2),
        )
        _, rate = report(
            f"lists ({args.throughput_clients} clients, {procs} procs)",
            phase(lists, args.throughput_clients, args.duration),
        )
        _, cold_rate = report(
            "lists, miss", phase(uncached_lists, args.throughput_clients, args.duration)
        )
        if args.per_endpoint:
            print("each list path alone, every request a miss:")
            for path in sorted(lists):
                misses = [f"{path}&miss=e{k}" for k in range(100_000)]
                report(f"  {path}", phase(misses, args.throughput_clients, args.duration / 4))
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        server.terminate()
        server.wait(20)
    print(f"\nlight-curve p95 (cache misses) {lat_p95:.1f} ms (target < {P95_TARGET_MS:.0f} ms): "
          f"{'PASS' if lat_p95 < P95_TARGET_MS else 'MISS'}")  # fmt: skip
    print(f"list throughput {rate:.0f} req/s (target > {THROUGHPUT_TARGET:.0f}): "
          f"{'PASS' if rate > THROUGHPUT_TARGET else 'MISS'}; cache misses {cold_rate:.0f} req/s")  # fmt: skip


if __name__ == "__main__":
    main()
