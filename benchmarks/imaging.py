"""WSClean wall time per imaging tier on a `full` preset tile, and its share of a group's budget.

One `full` group (96 antennas, 768 channels, 24 integrations: the real
size) is simulated with unit gains and converted (or ``--ms`` names an MS);
each tier is then imaged from DATA through :func:`dsa110_contimg.imaging.image_ms`
(WSClean, pb correction, QA, previews) with the tier scaled to the MS as the
pipeline scales it (the field kept: on the surveyed array 2384 px at 6.4"),
in variants side by side (``--variants``), each compared with ``previous``:

* ``plain``: as the operating pipeline runs it (MODEL_DATA written, mgain 0.8);
* ``previous``: our standard tier until 2026-12-05 (no MODEL_DATA, mgain 0.8,
  the w-gridder at WSClean's default 1e-4 accuracy, every channel gridded);
* ``mgain``: previous with mgain 0.9 (one major cycle fewer);
* ``acc3``: mgain with the w-gridder at 1e-3 accuracy (narrower kernels);
* ``avg``: mgain with channels averaged before gridding within the 1%
  smearing budget (``average_channels="auto"``: 2 on the full band);
* ``today``: today's standard tier (all three);
* ``fast``: today's with ``-baseline-averaging 10``;
* ``masked``: today's given the catalog (the simulated sky's positions):
  cleaned to the thresholds inside 60" circles round the sources
  (``imaging/mask.py``), as the pipeline images when it has a catalog.

Reported per run: the channels averaged, the imaging time (WSClean plus
writing the averaged copy it reads), the whole stage's, imaging's
share of the 309 s a group lasts (real time means every stage of a group
fits in that), the image rms and, against the simulated sky, QA's median
flux ratio (pb-corrected peak / true flux) and astrometric offset of the
bright sources: what a faster variant must keep.

Operating pipeline, standard tier on a full group: 364-405 s; with baseline
averaging 164 s.

Measured 2026-12-05 on a quiet 2-core machine (load < 1), a full group on the
surveyed layout (longest baseline 2592 m), 59 bright sources:
- previous (mgain 0.8): WSClean 163.0 s (53% of a group), rms 1.078 mJy/beam,
  flux ratio 0.979 (MAD 0.020), offsets 0.55";
- mgain 0.9 (today's tier): 108.9 s (35%): 1.50x, rms 0.999x, flux ratio
  +0.001, offsets 0.51";
- baseline averaging (at load 5-12, so times are inflated but side by side):
  3.5x faster (10.5x together with mgain 0.9) but rms +14%, flux ratio -0.005.
  Not thermal: on a noise-only full group the dirty-image rms is the same
  with and without it (natural 0.2388 vs 0.2388 mJy, Briggs 0.5 0.2503 vs
  0.2476), so the excess is sky left in the residual by the averaged major
  cycles; the standard tier does not use it.

Measured 2026-12-05, quiet (load 0.9), side by side: today 54.1 s (averaged
copy included; 18% of a group) vs previous 158.5 s: 2.93x, rms 0.999x, flux
ratio +0.000, offsets 0.51" vs 0.55".
Each option, same MS, side by side at load 2-5 (times inflated,
ratios comparable; imaging time includes writing the averaged copy):
previous 290.8 s, mgain 247.5 s (1.17x), acc3 213.7 s (1.36x), avg (2
channels) 106.9 s (2.72x), today 84.5 s (3.44x); rms 0.999-1.000x, flux ratio
+0.000/+0.001, offsets 0.50-0.51" (previous 0.55"). Not used: mgain 0.95
(still three major cycles), ``-no-reorder`` (no gain).

    python benchmarks/imaging.py [--ms PATH] [--tiers quicklook,standard] [--workdir DIR]
        [--variants previous,mgain,acc3,avg,today]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

GROUP_BUDGET_S = 309.24
"""One group's duration (24 x 12.884902 s): the real-time budget of all its stages."""
#: Tier fields per variant (see the module notes), over today's standard tier.
#: ``fast`` averages over 10 lambda, about the uv distance the longest baseline
#: moves in one 12.9 s integration.
BEFORE = {"mgain": 0.8, "wgridder_accuracy": 1e-4, "average_channels": 1}
VARIANTS = {
    "plain": {**BEFORE, "no_update_model": False},
    "previous": BEFORE,
    "mgain": {"wgridder_accuracy": 1e-4, "average_channels": 1},
    "acc3": {"average_channels": 1},
    "avg": {"wgridder_accuracy": 1e-4},
    "today": {},
    "fast": {"baseline_averaging_lambda": 10.0},
    # today's tier given the catalog (here the simulated sky): cleaned to the
    # thresholds inside 60" circles round its sources (imaging/mask.py)
    "masked": {},
}
BASELINE_S = {"standard": (364.0, 405.0), "standard+fast": (164.0, 164.0)}
#: The variant the others are compared with, side by side (the tier before mgain 0.9).
REFERENCE = "previous"


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


def true_catalog(workdir: Path) -> dict | None:
    """The simulated sky at the band centre (for QA's flux ratios and offsets), if simulated here."""
    import numpy as np

    from dsa110_contimg.telescope.constants import BAND_LOW_HZ, BANDWIDTH_HZ

    path = workdir / "sim" / "truth.json"
    if not path.exists():
        return None
    truth = json.loads(path.read_text())
    src = truth["sources"]
    freq = BAND_LOW_HZ + BANDWIDTH_HZ / 2
    flux = np.asarray(truth["groups"][0]["true_flux_1p4_jy"]) * (freq / 1.4e9) ** np.asarray(
        src["spectral_index"]
    )
    return {
        "ra_deg": np.asarray(src["ra_deg"]),
        "dec_deg": np.asarray(src["dec_deg"]),
        "flux_jy": flux,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ms", type=Path, help="MS to image (default: simulate a full group)")
    parser.add_argument("--tiers", default="quicklook,standard")
    parser.add_argument("--variants", default="previous,mgain,acc3,avg,today")
    parser.add_argument("--workdir", type=Path, help="keep the MS and images here")
    args = parser.parse_args()

    from dsa110_contimg.imaging import get_tier, image_ms, scale_tier
    from dsa110_contimg.imaging.msinfo import read_ms_summary

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-imaging-"))
    workdir.mkdir(parents=True, exist_ok=True)
    ms = args.ms or make_ms(workdir)
    catalog = true_catalog(workdir)
    summary = read_ms_summary(ms)
    print(f"MS {ms}: longest baseline {summary.max_baseline_m:.0f} m", flush=True)
    rows = []
    for name in args.tiers.split(","):
        for variant in args.variants.split(","):
            # the pipeline's tier for this MS: scaled to its array, the field kept
            tier = scale_tier(
                get_tier(name, {name: VARIANTS[variant]}),
                max_baseline_m=summary.max_baseline_m,
                freq_min_hz=float(summary.freqs_hz.min()),
                freq_max_hz=float(summary.freqs_hz.max()),
                max_size=2400,
            )
            masked = variant == "masked" and catalog is not None
            result = image_ms(
                ms,
                workdir / "images",
                tier=tier,
                data_column="DATA",
                catalog=catalog,
                mask_sources=(catalog["ra_deg"], catalog["dec_deg"]) if masked else None,
            )
            key = name if variant == "plain" else f"{name}+{variant}"
            row = {
                "tier": key,
                "variant": variant,
                "size": tier.size,
                "cell_arcsec": tier.cell_arcsec,
                "wsclean_s": round(result.wsclean_seconds, 1),
                # what imaging costs: WSClean and the averaged copy it reads
                "imaging_s": round(result.wsclean_seconds + result.average_seconds, 1),
                "channel_factor": result.channel_factor,
                "stage_s": round(result.seconds, 1),
                "share_of_group": round(
                    (result.wsclean_seconds + result.average_seconds) / GROUP_BUDGET_S, 3
                ),
                "rms_mjy": round(result.qa["rms_jy"] * 1e3, 3),
                # bright sources (SNR >= 50) against the simulated sky, when known
                "n_bright": result.qa["n_bright"],
                "flux_ratio_median": result.qa["flux_ratio_median"],
                "flux_ratio_mad": result.qa["flux_ratio_mad"],
                "offset_median_arcsec": result.qa["astrometry_median_arcsec"],
                "operating_pipeline_s": BASELINE_S.get(key),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(
        f"\n{'tier':<18}{'px @ cell':>12}{'avg':>4}{'imaging s':>10}{'stage s':>9}"
        f"{'of 309 s':>9}{'rms mJy':>9}{'flux ratio':>11}{'offset':>8}"
        f"  vs {REFERENCE}: speed, rms, flux"
    )
    reference = {r["tier"].split("+")[0]: r for r in rows if r["variant"] == REFERENCE}
    for r in rows:
        ref = reference.get(r["tier"].split("+")[0])
        versus = ""
        if ref is not None:
            versus = (
                f"{ref['imaging_s'] / r['imaging_s']:.2f}x, {r['rms_mjy'] / ref['rms_mjy']:.3f}x"
            )
            if r["flux_ratio_median"] and ref["flux_ratio_median"]:
                versus += f", {r['flux_ratio_median'] - ref['flux_ratio_median']:+.3f}"
        base = r["operating_pipeline_s"]
        if base is not None:
            versus += f" (operating pipeline {base[0]:.0f}-{base[1]:.0f} s)"
        print(
            f'{r["tier"]:<18}{r["size"]:>6} @ {r["cell_arcsec"]:.1f}"{r["channel_factor"]:>4}'
            f"{r['imaging_s']:>10.1f}{r['stage_s']:>9.1f}{100 * r['share_of_group']:>8.0f}%"
            f"{r['rms_mjy']:>9.3f}{r['flux_ratio_median'] or float('nan'):>11.3f}"
            f'{r["offset_median_arcsec"] or float("nan"):>7.2f}"  {versus}'
        )


if __name__ == "__main__":
    main()
