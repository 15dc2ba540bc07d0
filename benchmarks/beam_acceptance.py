"""The primary beam measured on the sky and corrected, end to end, judged against the truth.

Issue 16 §2's acceptance. The simulated dishes have a beam 10% wider than the
pipeline's Airy model (sim config ``[beam] fwhm_scale = 1.1``; every other
effect at its default: non-sidereal epochs, gains, RFI, noise), several days
of a calibrator transit with target groups after it, and only steady
sources. The operator's commands run on it, each as its own process:

    dsa110 simulate ROOT --sim-config ROOT/sim.toml
    dsa110 catalog import SIM ROOT/catalog.csv
    dsa110 process                                     # Airy-corrected images
    dsa110 beam profile --out ROOT/profile-before.png  # the error, measured
    dsa110 beam fit --kind airy --out ROOT/fit1.png    # a versioned beam model
    DSA110_BEAM_MODEL=measured dsa110 reprocess --from calibrate GROUPS...
    (fit and reprocess again until ``beam fit --dry-run`` says the width settled)
    dsa110 beam profile --out ROOT/profile-after.png

and the products DB is then judged against the simulator's ``truth.json``,
not the catalog the pipeline measured against (its fluxes carry 3% errors):
every clean forced measurement (no flag, SNR >= ``--min-snr``) on a current
pb-corrected image, divided by the source's true flux at the image's
frequency, binned by offset from the pointing where the true (drift-averaged)
beam is above 0.2. Goal: after the fit every bin's median within 2% of 1,
and no candidate among the sources (all are steady).

Run: ``.venv/bin/python benchmarks/beam_acceptance.py --root /tmp/beam-acc``
(about 45 minutes on 2 cores at the defaults: 8 days of a calibrator and 4
target groups, 48 antennas, processed once and reprocessed twice; 30 GB of
disk; ``--reuse`` picks up a root already processed and only fits again if
the width has not settled).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sim_truth import SimTruth, radius_deg

from dsa110_contimg.products import make_engine
from dsa110_contimg.products import models as m
from dsa110_contimg.qa.beam_profile import PrimaryBeamModel, drift_gain, median_and_error

PB_LIMIT = 0.2
TOLERANCE = 0.02
RADIUS_EDGES_DEG = (0.0, 0.5, 1.0, 1.4, 1.8, 2.2, 2.6)

SIM_TOML = """\
# issue 16 §2: a beam 10% wider than the pipeline's Airy, steady sources only
n_antennas = {antennas}
n_chan_per_subband = 12
n_integrations = 12
n_epochs = {days}
epoch_spacing_days = 1.0
targets_per_epoch = {targets}
min_flux_jy = 0.05
density_per_deg2 = 6.0
max_sources = 300
n_flares = 0
n_eses = 0
seed = {seed}

[beam]
fwhm_scale = {scale}
"""


def dsa110(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run one ``dsa110`` command on ``root`` as its own process; return its output."""
    exe = Path(sys.executable).with_name("dsa110")
    full_env = {**os.environ, "DSA110_DATA_ROOT": str(root), **(env or {})}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(exe), *args], env=full_env, capture_output=True, text=True, check=False
    )
    took = time.perf_counter() - t0
    print(f"$ dsa110 {' '.join(args[:6])}{' ...' if len(args) > 6 else ''}  ({took:.0f} s)")
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
        raise SystemExit(f"dsa110 {args[0]} failed with exit code {proc.returncode}")
    return proc.stdout


# --------------------------------------------------------------------------
# Judging the products DB against the truth
# --------------------------------------------------------------------------
@dataclass
class Judged:
    """Clean forced measurements on current pb images, with their truth."""

    ratio: np.ndarray  # forced / true
    err: np.ndarray  # forced error / true
    radius_deg: np.ndarray
    true_gain: np.ndarray
    applied_gain: np.ndarray
    n_images: int
    beam_models: set[int | None]


def judge(root: Path, min_snr: float) -> Judged:
    truth = SimTruth.load(root / "truth.json")

    engine = make_engine(f"sqlite:///{root / 'state' / 'products.sqlite3'}")
    stmt = (
        sa.select(
            m.Photometry.flux_jy,
            m.Photometry.flux_err_jy,
            m.Source.ra_deg,
            m.Source.dec_deg,
            m.Image.id,
            m.Image.ra_deg,
            m.Image.dec_deg,
            m.Image.freq_hz,
            m.Image.integration_s,
            m.Image.beam_model_id,
        )
        .join(m.Source, m.Source.id == m.Photometry.source_id)
        .join(m.Image, m.Image.id == m.Photometry.image_id)
        .where(
            m.Photometry.flags == 0,
            m.Photometry.snr >= min_snr,
            m.Image.image_type == "image-pb",
            m.Image.status == m.ProductStatus.OK,
        )
    )
    with engine.connect() as conn:
        rows = np.array(conn.execute(stmt).all(), dtype=float)
        models = {
            r.id: PrimaryBeamModel.from_record(r)
            for r in conn.execute(sa.select(m.BeamModel)).all()
        }
    engine.dispose()
    if rows.size == 0:
        raise SystemExit("no clean forced measurements on current pb-corrected images")
    flux, err, ra, dec, img, c_ra, c_dec, freq, dur, model_id = rows.T
    k, matched = truth.match(ra, dec)  # catalog positions carry ~1" errors
    true = truth.flux_at(k, freq)
    ids = {None if np.isnan(i) else int(i) for i in model_id}
    applied = np.empty_like(flux)
    for mid in ids:
        sel = np.isnan(model_id) if mid is None else model_id == mid
        model = PrimaryBeamModel("airy", 1.0) if mid is None else models[mid]
        applied[sel] = drift_gain(
            model, ra[sel], dec[sel], c_ra[sel], c_dec[sel], freq[sel], dur[sel]
        )
    gain = truth.drift_gain(ra, dec, c_ra, c_dec, freq, dur)
    radius = radius_deg(ra, dec, c_ra, c_dec)
    keep = matched
    return Judged(
        ratio=(flux / true)[keep],
        err=(err / true)[keep],
        radius_deg=radius[keep],
        true_gain=gain[keep],
        applied_gain=applied[keep],
        n_images=int(np.unique(img).size),
        beam_models=ids,
    )


def profile_rows(j: Judged) -> list[dict]:
    rows = []
    for lo, hi in zip(RADIUS_EDGES_DEG[:-1], RADIUS_EDGES_DEG[1:], strict=True):
        sel = (j.radius_deg >= lo) & (j.radius_deg < hi) & (j.true_gain > PB_LIMIT)
        if sel.sum() < 5:
            continue
        med, se = median_and_error(j.ratio[sel])
        expect = float(np.median(j.true_gain[sel] / j.applied_gain[sel]))
        rows.append(
            dict(lo=lo, hi=hi, n=int(sel.sum()), median=med, se=se, expected=expect,
                 true_gain=float(np.median(j.true_gain[sel])))
        )  # fmt: skip
    return rows


def print_profile(label: str, j: Judged) -> list[dict]:
    rows = profile_rows(j)
    print(f"\n{label}: {j.ratio.size} clean measurements on {j.n_images} images, beam "
          f"model(s) {sorted(j.beam_models, key=str)}; bins where the true beam > {PB_LIMIT}")  # fmt: skip
    print(f"{'offset deg':>11} {'n':>5} {'true beam':>9} {'forced/true':>11} {'+-':>6} "
          f"{'true/applied':>12}")  # fmt: skip
    for r in rows:
        print(f"{r['lo']:4.1f}-{r['hi']:<4.1f}  {r['n']:5d} {r['true_gain']:9.3f} "
              f"{r['median']:11.4f} {r['se']:6.4f} {r['expected']:12.4f}")  # fmt: skip
    worst = max(abs(r["median"] - 1) for r in rows)
    print(f"worst bin |forced/true - 1| = {worst:.4f}")
    return rows


def candidates(root: Path) -> list[tuple]:
    engine = make_engine(f"sqlite:///{root / 'state' / 'products.sqlite3'}")
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(m.Source.name, m.Candidate.kind, m.Candidate.score, m.Candidate.status)
            .join(m.Source, m.Source.id == m.Candidate.source_id)
            .where(m.Candidate.status != m.CandidateStatus.DISMISSED)
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def figure(before: list[dict], after: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for rows, label, marker in ((before, "Airy (before)", "o"), (after, "fitted (after)", "s")):
        x = [(r["lo"] + r["hi"]) / 2 for r in rows]
        ax.errorbar(x, [r["median"] for r in rows], [r["se"] for r in rows], fmt=marker,
                    label=label, capsize=3)  # fmt: skip
    x = [(r["lo"] + r["hi"]) / 2 for r in before]
    ax.plot(x, [r["expected"] for r in before], "k:", label="true / Airy beam")
    ax.axhspan(1 - TOLERANCE, 1 + TOLERANCE, color="0.9", label="goal +-2%")
    ax.set_xlabel("offset from the pointing (deg)")
    ax.set_ylabel("forced / true flux (median)")
    ax.set_title("Simulated beam 10% wider than the pipeline's Airy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fit_until_settled(root: Path, groups: list[str], max_rounds: int) -> str:
    """Fit, register and reprocess until the fitted width settles; the fits' report.

    The first fit is made on images whose calibration predicted the field
    with the Airy, which pulls it toward the Airy (1.091 for a true 1.10);
    reprocessed from calibrate with that model, the images give a fit that
    settles (``beam fit`` says whether it has). Each round appends to
    ``ROOT/fit.txt``; a settled root only checks.
    """
    log = root / "fit.txt"
    for rnd in range(1, max_rounds + 1):
        check = dsa110(root, "beam", "fit", "--kind", "airy", "--dry-run")
        if any(line.startswith("settled") for line in check.splitlines()):
            break
        out = dsa110(root, "beam", "fit", "--kind", "airy", "--out", str(root / f"fit{rnd}.png"),
                     "--note", f"beam_acceptance.py round {rnd}")  # fmt: skip
        with log.open("a") as f:
            f.write(f"round {rnd}:\n{out}\n")
        # from calibrate: the calibrator's and the tiles' sky models take the fitted beam too
        dsa110(root, "reprocess", "--from", "calibrate", *groups,
               env={"DSA110_BEAM_MODEL": "measured"})  # fmt: skip
    else:
        check = dsa110(root, "beam", "fit", "--kind", "airy", "--dry-run")
    return f"{log.read_text() if log.exists() else ''}now: {check}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=Path("/tmp/beam-acceptance"))
    ap.add_argument("--days", type=int, default=8)
    ap.add_argument("--targets", type=int, default=4, help="Target groups after each calibrator")
    ap.add_argument("--antennas", type=int, default=48)
    ap.add_argument("--scale", type=float, default=1.1, help="True FWHM / the pipeline's Airy")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--min-snr", type=float, default=20.0)
    ap.add_argument("--max-rounds", type=int, default=3, help="Fit + reprocess rounds at most")
    ap.add_argument("--reuse", action="store_true", help="Skip the steps whose products exist")
    args = ap.parse_args()
    root = args.root.resolve()
    t0 = time.perf_counter()

    if not (args.reuse and (root / "truth.json").exists()):
        if root.exists() and any(root.iterdir()):
            raise SystemExit(f"{root} is not empty (use --reuse, or another --root)")
        root.mkdir(parents=True, exist_ok=True)
        (root / "sim.toml").write_text(
            SIM_TOML.format(
                antennas=args.antennas,
                days=args.days,
                targets=args.targets,
                seed=args.seed,
                scale=args.scale,
            )  # fmt: skip
        )
        dsa110(root, "simulate", str(root), "--sim-config", str(root / "sim.toml"))
        dsa110(root, "db", "upgrade")
        dsa110(root, "catalog", "import", "SIM", str(root / "catalog.csv"))
    groups = [g["group_id"] for g in json.loads((root / "truth.json").read_text())["groups"]]
    processed = (root / "before.json").exists()
    if not (args.reuse and processed):
        dsa110(root, "process")
        before = print_profile("BEFORE (Airy-corrected images)", judge(root, args.min_snr))
        cand_before = candidates(root)
        print(f"candidates before: {len(cand_before)} {cand_before[:8]}")
        print(dsa110(root, "beam", "profile", "--out", str(root / "profile-before.png")))
        (root / "before.json").write_text(
            json.dumps({"rows": before, "candidates": len(cand_before)}, default=float)
        )
    else:  # the images may be a fitted model's now: the before figures as they were measured
        saved = json.loads((root / "before.json").read_text())
        before = saved["rows"]
        print(f"BEFORE (saved): worst bin {max(abs(r['median'] - 1) for r in before):.4f}, "
              f"candidates {saved['candidates']}")  # fmt: skip
    fits = fit_until_settled(root, groups, args.max_rounds)
    print(fits)
    after = print_profile("AFTER (re-corrected with the fitted model)", judge(root, args.min_snr))
    cand_after = candidates(root)
    print(f"candidates after: {len(cand_after)} {cand_after[:8]}")
    print(dsa110(root, "beam", "profile", "--out", str(root / "profile-after.png")))
    figure(before, after, root / "beam_acceptance.png")
    worst = max(abs(r["median"] - 1) for r in after)
    ok = worst <= TOLERANCE and not cand_after
    print(
        f"\nresult: worst bin after {worst:.4f} (goal <= {TOLERANCE}), candidates after "
        f"{len(cand_after)} (goal 0): {'PASS' if ok else 'FAIL'}; "
        f"figure {root / 'beam_acceptance.png'}; {time.perf_counter() - t0:.0f} s in all"
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
