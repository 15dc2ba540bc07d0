"""Time the simulator on one group of the real size (the `full` preset).

Prints wall time, CPU time and peak memory, and the ratios to the issue's
budget (3 minutes a group on 2 cores) and to the group's own duration.

    python benchmarks/simulate.py [--outdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from dsa110_contimg.simulate import preset_config, simulate
from dsa110_contimg.telescope import GROUP_DURATION_S

BUDGET_S = 180.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--outdir", type=Path, default=None, help="Where to write (default: a temp dir)"
    )
    parser.add_argument("--keep", action="store_true", help="Keep the files")
    args = parser.parse_args()
    outdir = args.outdir or Path(tempfile.mkdtemp(prefix="dsa110-sim-bench-"))
    cfg = preset_config("full")
    wall0, cpu0 = time.perf_counter(), time.process_time()
    truth = simulate(cfg, outdir)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    files = list((outdir / "incoming").glob("*.hdf5"))
    size_gb = sum(p.stat().st_size for p in files) / 1e9
    print(
        f"full preset, one group: {len(files)} files, {size_gb:.2f} GB, "
        f"{len(truth['sources']['name'])} sources"
    )
    print(f"wall time      {wall:8.1f} s   (budget {BUDGET_S:.0f} s: ratio {wall / BUDGET_S:.2f})")
    print(f"cpu time       {cpu:8.1f} s   (cpu/wall {cpu / wall:.2f})")
    print(
        f"vs real time   {wall / GROUP_DURATION_S:8.2f}     (group lasts {GROUP_DURATION_S:.1f} s)"
    )
    print(f"peak memory    {peak_gb:8.2f} GB")
    if not args.keep and args.outdir is None:
        shutil.rmtree(outdir)


if __name__ == "__main__":
    main()
