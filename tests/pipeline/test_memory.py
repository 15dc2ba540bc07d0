"""The stream daemon's memory stays flat from group to group (no per-group leak).

The soak (benchmarks/soak.py) measured the daemon's RSS growing ~30 MiB per
group: each group's preview (matplotlib + WCSAxes) left ~6,600 objects in
reference cycles holding the image's pixels, and CPython collects them only
at a full collection, which in a daemon of ~400k live objects comes about
every 10 groups. Here automatic collection is off while the groups run (as
good as "rare" in the daemon, and deterministic), so whatever a group leaves
in cycles stays, as it would between the daemon's full collections.
"""

from __future__ import annotations

import gc
import statistics
import threading
from pathlib import Path

import psutil

from dsa110_contimg.pipeline.stream import run_stream
from dsa110_contimg.products import make_engine, make_session_factory
from dsa110_contimg.simulate import preset_config, simulate

from .conftest import prepare_root

#: Groups run: a calibrator transit and four targets (~5 s each here).
N_TARGETS = 4
#: Groups left out of the per-group numbers: imports, first calls, caches, pools.
WARMUP = 2
#: Largest median RSS growth per group after warm-up, MiB. Measured here: +0.2
#: MiB with the fix (0.2-1.5 in the in-process stream runs: allocator noise, the
#: products DB), 22-29 MiB without (1114^2-pixel images). 4 MiB is 1.1 GiB over a day of 288 groups at worst, and
#: well clear of both.
MAX_GROWTH_MIB = 4.0
#: Largest number of objects a group may leave in reference cycles (automatic
#: collection off). Measured: ~210 (SQLAlchemy bookkeeping) with the fix, ~14,000
#: (the preview's figure and tracebacks) without.
MAX_GARBAGE_PER_GROUP = 1000


def test_rss_flat_over_groups(tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    simulate(preset_config("test", n_epochs=1, targets_per_epoch=N_TARGETS, n_antennas=12), sim)
    settings = prepare_root(tmp_path / "root", sim)
    engine = make_engine(settings.db_url)
    factory = make_session_factory(engine)
    proc = psutil.Process()
    rss: list[float] = []
    results: list[bool] = []

    def on_group(group_id: str, ok: bool) -> None:
        results.append(ok)
        rss.append(proc.memory_info().rss / 2**20)
        if len(rss) == WARMUP:  # warm-up done: start from no garbage
            gc.collect()
            rss[-1] = proc.memory_info().rss / 2**20

    gc.collect()
    gc.disable()
    try:
        run_stream(
            settings,
            factory,
            threading.Event(),
            interval=0.1,
            once=True,
            on_group=on_group,
            options={"tier": "quicklook"},
        )
        garbage_left = gc.collect()
    finally:
        gc.enable()
        engine.dispose()
    assert results == [True] * (N_TARGETS + 1), results
    growth = [b - a for a, b in zip(rss[WARMUP - 1 :], rss[WARMUP:], strict=False)]
    per_group = garbage_left / (len(rss) - WARMUP)
    detail = f"RSS per group {[round(r, 1) for r in rss]} MiB, garbage {per_group:.0f}/group"
    assert statistics.median(growth) < MAX_GROWTH_MIB, detail
    assert per_group < MAX_GARBAGE_PER_GROUP, detail
