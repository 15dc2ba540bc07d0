"""Load test of the web API: light-curve latency and list throughput over loopback.

Builds a products DB (SQLite by default) with 10^4 sources measured on 100
images (10^6 photometry rows) by bulk inserts through SQLAlchemy Core on the
models' tables, starts ``uvicorn`` on a free loopback port, and drives it with
concurrent ``httpx`` async clients for a bounded time:

* light curves of random sources (each request a different source, so mostly
  cache misses): p50 / p95 latency, target p95 < 20 ms;
* list endpoints (sources, images, jobs, candidates; random pages and sorts):
  requests per second, target > 500 req/s on 2 cores.

Run: ``.venv/bin/python benchmarks/api_load.py [--duration 10] [--workers 2]``
(``--db-url postgresql://...`` for PostgreSQL; ``--keep DIR`` reuses a loaded DB).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
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
    upgrade(url)
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


async def drive(
    base: str, paths: list[str], concurrency: int, duration: float
) -> tuple[list[float], list[float], int, float]:
    """Send ``paths`` (cycled) from ``concurrency`` clients for ``duration`` s.

    Each client has its own keep-alive connection (one shared ``httpx`` pool
    slows down sharply with many connections, which would measure the client).
    """
    latencies: list[float] = []
    server: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration
    cursor = iter(range(10**9))
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def worker() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:
            while time.perf_counter() < deadline:
                path = paths[next(cursor) % len(paths)]
                start = time.perf_counter()
                response = await client.get(path)
                latencies.append(time.perf_counter() - start)
                errors += response.status_code != 200
                timing = response.headers.get("server-timing", "dur=nan").split("dur=")[-1]
                server.append(float(timing) / 1000)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, server, errors, time.perf_counter() - start


def _drive_in_process(
    args: tuple[str, list[str], int, float],
) -> tuple[list[float], list[float], int, float]:
    return asyncio.run(drive(*args))


def drive_processes(
    base: str, paths: list[str], concurrency: int, duration: float, processes: int
) -> tuple[list[float], list[float], int, float]:
    """:func:`drive` from several client processes (one Python client tops out below the API)."""
    if processes <= 1:
        return asyncio.run(drive(base, paths, concurrency, duration))
    per = max(1, concurrency // processes)
    shares = [paths[i::processes] or paths for i in range(processes)]
    with ProcessPoolExecutor(processes) as pool:
        results = list(pool.map(_drive_in_process, [(base, p, per, duration) for p in shares]))
    latencies = [x for r in results for x in r[0]]
    server = [x for r in results for x in r[1]]
    return latencies, server, sum(r[2] for r in results), max(r[3] for r in results)


def report(
    name: str, latencies: list[float], server: list[float], errors: int, elapsed: float
) -> tuple[float, float]:
    """Print client-side percentiles, the server-side p95 (Server-Timing) and the rate."""
    ms = np.array(latencies) * 1000
    p50, p95, rate = np.percentile(ms, 50), np.percentile(ms, 95), len(ms) / elapsed
    server_p95 = np.nanpercentile(np.array(server) * 1000, 95)
    print(f"{name:<36} n={len(ms):6d} err={errors:2d} p50={p50:6.2f} ms p95={p95:6.2f} ms "
          f"p99={np.percentile(ms, 99):6.2f} ms server-p95={server_p95:5.2f} ms {rate:6.0f} req/s")  # fmt: skip
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
    parser.add_argument("--keep", type=Path, help="folder of a DB to reuse or keep")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="dsa110-api-load-"))
    url = args.db_url or f"sqlite:///{root / 'state' / 'products.sqlite3'}"
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
        curves = [f"/api/sources/{i}/lightcurve" for i in ids]
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
        asyncio.run(drive(base, curves[:200] + lists, 4, 2.0))  # warm-up (connections, imports)
        print(f"\nAPI load over loopback, {args.workers} uvicorn workers, {os.cpu_count()} cores, "
              f"load average before {os.getloadavg()[0]:.1f} (other processes share the cores)")  # fmt: skip
        report(
            "light curve (1 client, no queueing)",
            *asyncio.run(drive(base, curves[-3000:], 1, args.duration / 2)),
        )
        lat_p95, _ = report(
            f"light curve ({args.latency_clients} clients, {args.client_processes} procs)",
            *drive_processes(
                base, curves[200:], args.latency_clients, args.duration, args.client_processes
            ),
        )
        _, rate = report(
            f"lists ({args.throughput_clients} clients, {args.client_processes} procs)",
            *drive_processes(
                base, lists, args.throughput_clients, args.duration, args.client_processes
            ),
        )
        uncached = [f"{p}&nocache={k}" for k in range(100_000) for p in lists[:1]]
        _, cold_rate = report(
            "lists, every request a miss",
            *drive_processes(
                base, uncached, args.throughput_clients, args.duration, args.client_processes
            ),
        )
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        server.terminate()
        server.wait(20)
    print(f"\nlight-curve p95 {lat_p95:.1f} ms (target < {P95_TARGET_MS:.0f} ms): "
          f"{'PASS' if lat_p95 < P95_TARGET_MS else 'MISS'}")  # fmt: skip
    print(f"list throughput {rate:.0f} req/s (target > {THROUGHPUT_TARGET:.0f}): "
          f"{'PASS' if rate > THROUGHPUT_TARGET else 'MISS'}; uncached {cold_rate:.0f} req/s")  # fmt: skip


if __name__ == "__main__":
    main()
