"""Solve a calibrator MS with our solver and with CASA bandpass + gaincal; compare.

Both solve the same MS in the same run, with the operating pipeline's
sequence: a 60 s phase-only pre-solve, bandpass (solint inf, solnorm,
minsnr 5, uv > 1000 lambda, fill gaps of 3 channels, >= 4 baselines per
antenna), then amplitude+phase gains (solint inf, minsnr 3). CASA runs in its
own subprocess, single-threaded (OMP_NUM_THREADS=1), timed around its three
tasks only (not its start-up). Agreement is measured on the full antenna
gain B x G per antenna, channel and polarisation, both referred to the same
reference antenna, over solutions unflagged in both.

Target (issue 5): >= 10x faster than CASA, agreement within 0.5% and 0.5 deg.

Run::

    .venv/bin/python benchmarks/calibration.py                 # small synthetic MS
    .venv/bin/python benchmarks/calibration.py --size full     # 96 antennas x 768 ch x 24 ints
    .venv/bin/python benchmarks/calibration.py --ms GROUP.ms   # an existing calibrator MS

An existing MS must hold the calibrator model in MODEL_DATA (see
``dsa110_contimg.calibration.model.write_model_ms``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from casacore.tables import table

from dsa110_contimg.calibration.caltable import read_caltable, write_solutions
from dsa110_contimg.calibration.model import PointSource
from dsa110_contimg.calibration.msio import read_info
from dsa110_contimg.calibration.solve import SolveParams, solve_ms
from dsa110_contimg.calibration.synthetic import make_synthetic_ms
from dsa110_contimg.telescope import SEFD_JY, dsa110_layout
from dsa110_contimg.tools.casa import casa_available
from dsa110_contimg.tools.casa import run_casa_result as run_casa

SIZES = {
    "small": {"n_chan": 192, "n_times": 24, "n_ant": 32},
    "full": {"n_chan": 768, "n_times": 24, "n_ant": 96},
}


def make_ms(path: Path, size: str) -> None:
    """A synthetic calibrator MS: 15 Jy at the phase centre, realistic thermal noise."""
    spec = SIZES[size]
    layout = dsa110_layout()
    active = layout.pad_numbers[layout.active]
    outriggers = [p for p in active if p >= 103]
    core = [p for p in active if p < 103]
    pick = np.linspace(0, len(core) - 1, spec["n_ant"] - len(outriggers)).round().astype(int)
    pads = tuple(sorted({*np.asarray(core)[pick].tolist(), *outriggers}))
    sigma = SEFD_JY / np.sqrt(2 * 244140.625 * 12.884902)  # Jy per visibility, ~2.6
    make_synthetic_ms(
        path,
        pads=pads,
        n_chan=spec["n_chan"],
        n_times=spec["n_times"],
        flux_jy=15.0,
        noise_sigma=float(sigma),
        seed=11,
    )


def run_ours(ms: Path, params: SolveParams, sources=None) -> tuple[float, dict]:
    t0 = time.perf_counter()
    sol = solve_ms(ms, params, sources=sources)
    paths = write_solutions(sol, ms)
    return time.perf_counter() - t0, {"b": paths["bandpass"], "g": paths["gain"], "qa": sol.qa}


def run_casa_solve(ms: Path, refant: str, uvmin_lambda: float, workdir: Path) -> tuple[float, dict]:
    pre, b, g = (str(ms) + s for s in (".casa_p", ".casa_b", ".casa_g"))
    uvrange = f">{uvmin_lambda:g}lambda" if uvmin_lambda > 0 else ""
    result = run_casa(
        f"""
import time
t0 = time.perf_counter()
casatasks.gaincal(vis={str(ms)!r}, caltable={pre!r}, solint="60s", calmode="p", refant={refant!r},
                  minsnr=3, minblperant=4, uvrange={uvrange!r})
casatasks.bandpass(vis={str(ms)!r}, caltable={b!r}, solint="inf", combine="scan", refant={refant!r},
                   solnorm=True, minsnr=5, minblperant=4, uvrange={uvrange!r}, fillgaps=3,
                   gaintable=[{pre!r}])
casatasks.gaincal(vis={str(ms)!r}, caltable={g!r}, solint="inf", calmode="ap", refant={refant!r},
                  minsnr=3, minblperant=4, uvrange={uvrange!r}, gaintable=[{b!r}])
result["seconds"] = time.perf_counter() - t0
""",
        workdir=workdir,
        timeout_s=3600,
    )
    return result["seconds"], {"b": b, "g": g}


def agreement(ours: dict, theirs: dict, refant: int) -> dict:
    """Amplitude (%) and phase (deg) differences of B x G, both referred to ``refant``."""
    gains = []
    flags = []
    for tabs in (ours, theirs):
        b, g = read_caltable(tabs["b"]), read_caltable(tabs["g"])
        total = b.gains[0] * g.gains[0]  # (Nant, Nchan, Npol)
        ref = total[refant] / np.abs(total[refant])
        gains.append(total * np.conj(ref))
        flags.append(b.flags[0] | g.flags[0] | b.flags[0][refant])
    ok = ~(flags[0] | flags[1])
    ratio = gains[0][ok] / gains[1][ok]
    amp = 100 * np.abs(np.abs(ratio) - 1)
    phase = np.degrees(np.abs(np.angle(ratio)))
    return {
        "n_solutions": int(ok.sum()),
        "flagged_ours": float(flags[0].mean()),  # of all table rows (absent antennas too)
        "flagged_casa": float(flags[1].mean()),
        "amp_pct_median": float(np.median(amp)),
        "amp_pct_p99": float(np.percentile(amp, 99)),
        "amp_pct_max": float(amp.max()),
        "phase_deg_median": float(np.median(phase)),
        "phase_deg_p99": float(np.percentile(phase, 99)),
        "phase_deg_max": float(phase.max()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ms", type=Path, help="existing calibrator MS (MODEL_DATA filled)")
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--uvmin", type=float, default=1000.0, help="uv cut, wavelengths")
    parser.add_argument("--refant-pad", type=int, default=103)
    parser.add_argument("--no-casa", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the synthetic MS here")
    parser.add_argument(
        "--centre-flux",
        type=float,
        help="also time our solve with the model computed on the fly: a point source of "
        "this flux (Jy, flat) at the phase centre (default for a synthetic MS: 15)",
    )
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="calbench_"))
    try:
        if args.ms is None:
            ms = (args.keep or tmp) / f"calbench_{args.size}.ms"
            if not ms.exists():
                t0 = time.perf_counter()
                make_ms(ms, args.size)
                print(f"made {ms} in {time.perf_counter() - t0:.1f} s")
        else:
            ms = args.ms
        params = SolveParams(
            uvmin_lambda=args.uvmin, refant_pads=(args.refant_pad, *range(104, 117))
        )
        solve_ms(ms, params)  # warm-up: numba compile, page cache (CASA gets a warm cache too)
        t_ours, ours = run_ours(ms, params)
        print(
            f"ours: {t_ours:.2f} s  refant pad {ours['qa']['refant_pad']}  "
            f"bandpass flagged {ours['qa']['bandpass_flag_fraction']:.3f}  "
            f"median SNR {ours['qa']['bandpass_median_snr']:.0f}"
        )
        flux = args.centre_flux or (15.0 if args.ms is None else None)
        if flux:
            info = read_info(ms)
            ra, dec = np.degrees(info.phase_dir_rad)
            centre = [PointSource("centre", ra, dec, flux)]
            solve_ms(ms, params, sources=centre)  # warm-up (numba compiles for this layout)
            t_fly, _ = run_ours(ms, params, centre)
            print(f"ours, model computed on the fly (no MODEL_DATA read): {t_fly:.2f} s")
        if args.no_casa or not casa_available():
            print(
                "CASA: skipped" + ("" if args.no_casa else " (casatools/casatasks not installed)")
            )
            return 0
        t_casa, theirs = run_casa_solve(ms, str(args.refant_pad), args.uvmin, tmp)
        print(f"CASA gaincal(p) + bandpass + gaincal(ap): {t_casa:.2f} s")
        print(f"speed-up: {t_casa / t_ours:.1f}x (MODEL_DATA read)", end="")
        print(f", {t_casa / t_fly:.1f}x (model on the fly)" if flux else "")
        with table(str(Path(ours["b"]) / "ANTENNA"), ack=False) as ant:
            refant = list(ant.getcol("NAME")).index(str(ours["qa"]["refant_pad"]))
        agree = agreement(ours, theirs, refant)
        for key, value in agree.items():
            print(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
