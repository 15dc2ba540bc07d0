"""WSClean wall time per imaging tier on a `full` preset tile, and its share of a group's budget.

One `full` group (96 antennas, 768 channels, 24 integrations: the real
size) is simulated with unit gains and converted (or ``--ms`` names an MS);
each tier is then imaged from DATA through :func:`dsa110_contimg.imaging.image_ms`
(WSClean, pb correction, QA, previews), first as the operating pipeline runs
it (MODEL_DATA written), then without writing MODEL_DATA
(``-no-update-model-required``, our tiers' default: nothing downstream reads
it), then fast (also ``-baseline-averaging 10``); ``--variants`` picks.
Reported per run: WSClean's wall time, the whole stage's, and WSClean's
share of the 309 s a group lasts (real time means every stage of a group
fits in that).

Operating pipeline, standard tier on a full group: 364-405 s; with baseline
averaging 164 s.

    python benchmarks/imaging.py [--ms PATH] [--tiers quicklook,standard] [--workdir DIR]
        [--variants plain,nomodel,fast]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

GROUP_BUDGET_S = 309.24
"""One group's duration (24 x 12.884902 s): the real-time budget of all its stages."""
#: WSClean options per variant: as the operating pipeline ran (MODEL_DATA written), our
#: default (no model written) and fast (also baseline-dependent averaging over 10 lambda).
VARIANTS = {
    "plain": {"no_update_model": False},
    "nomodel": {"no_update_model": True},
    "fast": {"baseline_averaging_lambda": 10.0, "no_update_model": True},
}
BASELINE_S = {"standard": (364.0, 405.0), "standard+fast": (164.0, 164.0)}


def make_ms(workdir: Path) -> Path:
    """Simulate and convert one `full` group with unit gains (data in Jy)."""
    from dsa110_contimg.conversion.convert import convert_group
    from dsa110_contimg.simulate import preset_config, simulate

    ms = workdir / "full.ms"
    if ms.exists():
        return ms
    t0 = time.perf_counter()
    truth = simulate(preset_config("full", gains=False, rfi=False), workdir / "sim")
    files = [workdir / "sim" / "incoming" / f for f in truth["groups"][0]["files"]]
    print(f"simulated the full group in {time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    convert_group(files, ms)
    print(f"converted in {time.perf_counter() - t0:.0f} s: {ms}")
    return ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ms", type=Path, help="MS to image (default: simulate a full group)")
    parser.add_argument("--tiers", default="quicklook,standard")
    parser.add_argument("--variants", default="plain,nomodel,fast")
    parser.add_argument("--workdir", type=Path, help="keep the MS and images here")
    args = parser.parse_args()

    from dsa110_contimg.imaging import get_tier, image_ms

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-imaging-"))
    workdir.mkdir(parents=True, exist_ok=True)
    ms = args.ms or make_ms(workdir)
    rows = []
    for name in args.tiers.split(","):
        for variant in args.variants.split(","):
            tier = get_tier(name, {name: VARIANTS[variant]})
            result = image_ms(ms, workdir / "images", tier=tier, data_column="DATA")
            key = name if variant == "plain" else f"{name}+{variant}"
            row = {
                "tier": key,
                "wsclean_s": round(result.wsclean_seconds, 1),
                "stage_s": round(result.seconds, 1),
                "share_of_group": round(result.wsclean_seconds / GROUP_BUDGET_S, 3),
                "rms_mjy": round(result.qa["rms_jy"] * 1e3, 3),
                "operating_pipeline_s": BASELINE_S.get(key),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\n{'tier':<18}{'wsclean s':>10}{'stage s':>9}{'of 309 s':>10}  operating pipeline")
    for r in rows:
        base = r["operating_pipeline_s"]
        print(
            f"{r['tier']:<18}{r['wsclean_s']:>10.1f}{r['stage_s']:>9.1f}"
            f"{100 * r['share_of_group']:>9.0f}%  {'' if base is None else f'{base[0]:.0f}-{base[1]:.0f} s'}"
        )


if __name__ == "__main__":
    main()
