"""Solve a calibrator MS with our solver and with CASA bandpass + gaincal; compare.

Both solve the same MS in the same run, with the operating pipeline's
sequence: a 60 s phase-only pre-solve, bandpass (solint inf, solnorm,
minsnr 5, uv > 1000 lambda, fill gaps of 3 channels, >= 4 baselines per
antenna), then amplitude+phase gains (solint inf, minsnr 3). CASA runs in its
own subprocess, single-threaded (OMP_NUM_THREADS=1), timed around its three
tasks only (not its start-up). Agreement is measured on the full antenna
gain B x G per antenna, channel and polarisation, both referred to the same
reference antenna.

Target (issue 5): >= 10x faster than CASA, agreement within 0.5% and 0.5 deg.
Measured (full MS, 2026-12-03, load 2-7 from other work): ours 13.7 s
(10.4 s with the model computed on the fly), CASA 148.5 s: 10.9x (14.3x).

What the comparison shows, and why it is printed in several ways:

* The two solvers do not see the same data at the uv cut. CASA's
  ``uvrange=">1000lambda"`` selects whole rows, converting with one
  frequency for the window (the script asks CASA which baselines it kept:
  on the full MS, >= 209.86 m, i.e. 1000 wavelengths at the band's lowest
  channel); ours cuts per channel, so baselines of 185-210 m are used in the
  channels where they exceed 1000 wavelengths. An antenna with many such
  baselines gets a visibly different solution (the full MS's largest
  differences, 1.7% and 0.9 deg, are on an antenna with 16 of them, where
  our bandpass SNR is 87 and CASA's 67).
* Like-for-like data at the cut: ours converting it at the lowest channel
  as CASA does (``SolveParams.uvmin_frequency_hz``), the two agree to
  0.095% and 0.016 deg at most (full MS; medians 0.009%, 0.002 deg).
* Like-for-like data: solved again without the cut, the two agree to
  0.006% and 0.013 deg at most (full MS); with the cut, on the antennas
  with no baseline crossing it inside the band, to 0.12% and 0.11 deg at
  most (medians 0.008%, 0.008 deg), the rest being the few affected
  antennas' influence through the common solve.
* Against the simulator's true gains (synthetic MS, bandpass SNR > 50, the
  issue's accuracy criterion), both are thermal-noise limited with the same
  errors (full MS with the cut: median 0.23% / 0.17 deg, max ~3.5% /
  2.2 deg; ours 0.01-0.05 points smaller in median and 99th percentile, as
  it keeps more baselines, CASA's largest amplitude error 0.03 points
  smaller): the disagreement at the cut is a choice of data, well inside
  either solver's noise, not a solver difference. The operating setting's
  numbers are printed as they are (full MS: max 1.7% and 0.93 deg, 99th
  percentile 0.40% and 0.23 deg).

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
from dsa110_contimg.calibration.synthetic import SyntheticTruth, make_synthetic_ms
from dsa110_contimg.telescope import SEFD_JY, SPEED_OF_LIGHT_M_S, dsa110_layout
from dsa110_contimg.tools.casa import casa_available
from dsa110_contimg.tools.casa import run_casa_result as run_casa

MIN_SNR = 50.0
"""Bandpass SNR above which the issue's accuracy criterion applies."""

SIZES = {
    "small": {"n_chan": 192, "n_times": 24, "n_ant": 32},
    "full": {"n_chan": 768, "n_times": 24, "n_ant": 96},
}


def make_ms(path: Path, size: str) -> SyntheticTruth:
    """A synthetic calibrator MS: 15 Jy at the phase centre, realistic thermal noise."""
    spec = SIZES[size]
    layout = dsa110_layout()
    active = layout.pad_numbers[layout.active]
    outriggers = [p for p in active if p >= 103]
    core = [p for p in active if p < 103]
    pick = np.linspace(0, len(core) - 1, spec["n_ant"] - len(outriggers)).round().astype(int)
    pads = tuple(sorted({*np.asarray(core)[pick].tolist(), *outriggers}))
    sigma = SEFD_JY / np.sqrt(2 * 244140.625 * 12.884902)  # Jy per visibility, ~2.6
    return make_synthetic_ms(
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
import numpy as np
t0 = time.perf_counter()
casatasks.gaincal(vis={str(ms)!r}, caltable={pre!r}, solint="60s", calmode="p", refant={refant!r},
                  minsnr=3, minblperant=4, uvrange={uvrange!r})
casatasks.bandpass(vis={str(ms)!r}, caltable={b!r}, solint="inf", combine="scan", refant={refant!r},
                   solnorm=True, minsnr=5, minblperant=4, uvrange={uvrange!r}, fillgaps=3,
                   gaintable=[{pre!r}])
casatasks.gaincal(vis={str(ms)!r}, caltable={g!r}, solint="inf", calmode="ap", refant={refant!r},
                  minsnr=3, minblperant=4, uvrange={uvrange!r}, gaintable=[{b!r}])
result["seconds"] = time.perf_counter() - t0
if {uvrange!r}:  # which baselines CASA's uvrange kept (row selection), for the report
    tool = casatools.ms()
    tool.open({str(ms)!r})
    tool.msselect({{"uvdist": {uvrange!r}}})
    uvw = tool.getdata(["uvw"])["uvw"]
    tool.close()
    result["kept_uvdist_m_min"] = float(np.hypot(uvw[0], uvw[1]).min())
""",
        workdir=workdir,
        timeout_s=3600,
    )
    return result["seconds"], {"b": b, "g": g, **result}


def referred_gains(tabs: dict, refant: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """B x G per (antenna, channel, pol) referred to ``refant``; its flags and bandpass SNR."""
    b, g = read_caltable(tabs["b"]), read_caltable(tabs["g"])
    total = b.gains[0] * g.gains[0]  # (Nant, Nchan, Npol)
    ref = total[refant] / np.abs(total[refant])
    flags = b.flags[0] | g.flags[0] | b.flags[0][refant]
    return total * np.conj(ref), flags, b.snr[0]


def true_referred(truth: SyntheticTruth, n_ant: int, refant: int) -> np.ndarray:
    """The simulator's antenna gains on the tables' antenna rows, referred to ``refant``."""
    out = np.full((n_ant, *truth.gains.shape[1:]), np.nan, complex)
    out[truth.antenna_numbers] = truth.gains
    ref = out[refant] / np.abs(out[refant])
    return out * np.conj(ref)


def differences(a: np.ndarray, b: np.ndarray, use: np.ndarray) -> dict:
    """Amplitude (%) and phase (deg) of a / b over ``use``, and where the largest is."""
    ratio = a[use] / b[use]
    amp = 100 * np.abs(np.abs(ratio) - 1)
    phase = np.degrees(np.abs(np.angle(ratio)))
    where = np.argwhere(use)
    return {
        "n": int(use.sum()),
        "amp_pct": (np.median(amp), np.percentile(amp, 99), amp.max()),
        "phase_deg": (np.median(phase), np.percentile(phase, 99), phase.max()),
        "worst_amp": tuple(where[amp.argmax()]),
        "worst_phase": tuple(where[phase.argmax()]),
    }


def print_differences(label: str, d: dict) -> None:
    a, p = d["amp_pct"], d["phase_deg"]
    print(
        f"  {label} ({d['n']} solutions): amplitude median/p99/max "
        f"{a[0]:.3f}/{a[1]:.3f}/{a[2]:.3f} %, phase {p[0]:.3f}/{p[1]:.3f}/{p[2]:.3f} deg"
    )


def straddling_baselines(ms: Path, uvmin_lambda: float) -> np.ndarray:
    """Per antenna row: baselines whose length crosses ``uvmin_lambda`` inside the band."""
    info = read_info(ms)
    with table(str(ms), ack=False) as tb:
        t = tb.getcol("TIME")
        first = t == t[0]
        a1, a2 = tb.getcol("ANTENNA1")[first], tb.getcol("ANTENNA2")[first]
        uv_m = np.hypot(*tb.getcol("UVW")[first][:, :2].T)
    lo, hi = (
        uv_m * info.freqs_hz.min() / SPEED_OF_LIGHT_M_S,
        uv_m * info.freqs_hz.max() / SPEED_OF_LIGHT_M_S,
    )
    cross = (lo < uvmin_lambda) & (hi > uvmin_lambda) & (a1 != a2)
    counts = np.zeros(len(info.antenna_names), int)
    np.add.at(counts, a1[cross], 1)
    np.add.at(counts, a2[cross], 1)
    return counts


def compare(ours: dict, theirs: dict, refant: int, truth, ms: Path, uvmin: float) -> None:
    """Print ours vs CASA (all / SNR > 50), both vs truth, and where the worst differences sit."""
    g_ours, f_ours, snr_ours = referred_gains(ours, refant)
    g_casa, f_casa, snr_casa = referred_gains(theirs, refant)
    both = ~(f_ours | f_casa)
    strong = both & (snr_ours > MIN_SNR) & (snr_casa > MIN_SNR)
    print(f"  flagged: ours {f_ours.mean():.4f}, CASA {f_casa.mean():.4f} (absent antennas too)")
    d_all = differences(g_ours, g_casa, both)
    print_differences("ours vs CASA, solved in both", d_all)
    print_differences(
        f"ours vs CASA, bandpass SNR > {MIN_SNR:g} in both", differences(g_ours, g_casa, strong)
    )
    if truth is not None:
        g_true = true_referred(truth, g_ours.shape[0], refant)
        print_differences(f"ours vs truth, SNR > {MIN_SNR:g}", differences(g_ours, g_true, strong))
        print_differences(f"CASA vs truth, SNR > {MIN_SNR:g}", differences(g_casa, g_true, strong))
    counts = straddling_baselines(ms, uvmin) if uvmin > 0 else None
    if counts is not None:
        clear = strong & (counts == 0)[:, None, None]
        label = f"ours vs CASA, SNR > {MIN_SNR:g}, antennas with no baseline crossing the cut"
        print_differences(label, differences(g_ours, g_casa, clear))
    for kind in ("worst_amp", "worst_phase"):
        ant, chan, pol = d_all[kind]
        where = f"antenna row {ant} chan {chan} pol {pol}: SNR ours {snr_ours[ant, chan, pol]:.0f}"
        where += f", CASA {snr_casa[ant, chan, pol]:.0f}"
        if counts is not None:
            where += f"; {counts[ant]} of its baselines cross the uv cut inside the band"
            where += (
                f" (median antenna: {np.median(counts[counts > 0]) if counts.any() else 0:.0f})"
            )
        print(f"  {kind.replace('_', ' ')} at {where}")


def run_configuration(
    ms: Path, uvmin: float, args, truth, tmp: Path, casa_rows: dict | None = None
) -> dict | None:
    """Solve with ours and with CASA at one uv cut; print the times and the comparison.

    With ``casa_rows`` (CASA's solution at this cut, returned by an earlier
    call) ours converts the cut at the lowest channel, as CASA does, and is
    compared with it without solving with CASA again. Returns CASA's solution.
    """
    row_freq = read_info(ms).freqs_hz.min() if casa_rows is not None else None
    params = SolveParams(
        uvmin_lambda=uvmin,
        uvmin_frequency_hz=row_freq,
        refant_pads=(args.refant_pad, *range(104, 117)),
    )
    solve_ms(ms, params)  # warm-up: numba compile, page cache (CASA gets a warm cache too)
    t_ours, ours = run_ours(ms, params)
    print(
        f"ours: {t_ours:.2f} s  refant pad {ours['qa']['refant_pad']}  "
        f"bandpass flagged {ours['qa']['bandpass_flag_fraction']:.3f}  "
        f"median SNR {ours['qa']['bandpass_median_snr']:.0f}"
    )
    if casa_rows is not None:
        with table(str(Path(ours["b"]) / "ANTENNA"), ack=False) as ant:
            refant = list(ant.getcol("NAME")).index(str(ours["qa"]["refant_pad"]))
        compare(ours, casa_rows, refant, truth, ms, 0.0)
        return casa_rows
    flux = args.centre_flux or (15.0 if args.ms is None else None)
    t_fly = None
    if flux and uvmin == args.uvmin:
        info = read_info(ms)
        ra, dec = np.degrees(info.phase_dir_rad)
        centre = [PointSource("centre", ra, dec, flux)]
        solve_ms(ms, params, sources=centre)  # warm-up (numba compiles for this layout)
        t_fly, _ = run_ours(ms, params, centre)
        print(f"ours, model computed on the fly (no MODEL_DATA read): {t_fly:.2f} s")
    if args.no_casa or not casa_available():
        print("CASA: skipped" + ("" if args.no_casa else " (casatools/casatasks not installed)"))
        return None
    t_casa, theirs = run_casa_solve(ms, str(args.refant_pad), uvmin, tmp)
    print(f"CASA gaincal(p) + bandpass + gaincal(ap): {t_casa:.2f} s")
    print(f"speed-up: {t_casa / t_ours:.1f}x (MODEL_DATA read)", end="")
    print(f", {t_casa / t_fly:.1f}x (model on the fly)" if t_fly else "")
    if "kept_uvdist_m_min" in theirs:
        kept = theirs["kept_uvdist_m_min"]
        freqs = read_info(ms).freqs_hz
        print(
            f"  CASA's uvrange kept baselines >= {kept:.2f} m, i.e. one frequency for the "
            f"whole window ({uvmin * SPEED_OF_LIGHT_M_S / kept / 1e9:.4f} GHz at most); ours cuts "
            f"per channel ({uvmin * SPEED_OF_LIGHT_M_S / freqs.max():.1f}-"
            f"{uvmin * SPEED_OF_LIGHT_M_S / freqs.min():.1f} m over the band)"
        )
    with table(str(Path(ours["b"]) / "ANTENNA"), ack=False) as ant:
        refant = list(ant.getcol("NAME")).index(str(ours["qa"]["refant_pad"]))
    compare(ours, theirs, refant, truth, ms, uvmin)
    return theirs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ms", type=Path, help="existing calibrator MS (MODEL_DATA filled)")
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--uvmin", type=float, default=1000.0, help="uv cut, wavelengths")
    parser.add_argument("--refant-pad", type=int, default=103)
    parser.add_argument("--no-casa", action="store_true")
    parser.add_argument("--cut-only", action="store_true", help="skip the second, uncut comparison")
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
        truth = None
        if args.ms is None:
            ms = (args.keep or tmp) / f"calbench_{args.size}.ms"
            shutil.rmtree(ms, ignore_errors=True)  # remade: the truth is needed
            t0 = time.perf_counter()
            truth = make_ms(ms, args.size)
            print(f"made {ms} in {time.perf_counter() - t0:.1f} s")
        else:
            ms = args.ms
        print(f"--- uv cut > {args.uvmin:g} lambda (operating setting)")
        casa_cut = run_configuration(ms, args.uvmin, args, truth, tmp)
        if casa_cut is not None and args.uvmin > 0:
            print(
                f"--- uv cut > {args.uvmin:g} lambda, ours converting it at the lowest channel "
                "as CASA does (same data)"
            )
            run_configuration(ms, args.uvmin, args, truth, tmp, casa_rows=casa_cut)
        if args.uvmin > 0 and not args.cut_only:
            print("--- no uv cut (same data)")
            run_configuration(ms, 0.0, args, truth, tmp)
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
