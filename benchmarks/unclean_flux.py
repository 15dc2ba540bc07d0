"""Forced fluxes on real WSClean images against the truth, by SNR: the uncleaned-flux bias.

WSClean leaves the sources below its auto-mask (or beyond its iteration
budget) in the residual, where they have the shape of the dirty beam; the
restoring-beam matched filter returns only a fraction ``r`` of such a flux.
The photometry stage rescales the residual by ``1 / r``
(:mod:`dsa110_contimg.photometry.unclean`). This script measures, on every
current pb-corrected image of a processed simulation, both versions of the
forced photometry against the simulator's truth:

* ``raw``: forced photometry of the ``-image-pb.fits`` pixels as they are;
* ``corrected``: the same with the residual rescaled, as the stage does.

The truth is the source's true flux at the image frequency times the true
beam over the beam the image was divided by (both drift-averaged), so a
beam-model error does not enter. Only clean measurements count (no flag:
not blended, not near an edge) where the true beam is above 0.2. Goal
(issue 16 §3): median forced / true within 1% and no trend with SNR above
10 sigma.

    python benchmarks/unclean_flux.py --truth DIR/truth.json --db sqlite:///DIR/state/products.sqlite3

e.g. on ``beam_acceptance.py``'s root (48 antennas, quicklook-size groups)
or on ``end_to_end.py --keep DIR``'s full-size tile (``DIR/sim/truth.json``,
``DIR/root/state/products.sqlite3``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from scipy.stats import linregress
from sim_truth import SimTruth

from dsa110_contimg.photometry.beam import load_image
from dsa110_contimg.photometry.forced import forced_photometry
from dsa110_contimg.photometry.unclean import corrected_pb_image
from dsa110_contimg.products import make_engine
from dsa110_contimg.products import models as m
from dsa110_contimg.qa.beam_profile import (
    MAD_TO_SIGMA,
    PrimaryBeamModel,
    drift_gain,
    median_and_error,
)

SNR_EDGES = (5.0, 10.0, 20.0, 50.0, 100.0, 300.0, np.inf)
PB_LIMIT = 0.2
TREND_SNR = 10.0
CLIP_SIGMA = 5.0


def snr_trend(ratio: np.ndarray, snr: np.ndarray, image: np.ndarray) -> tuple[float, float]:
    """Slope of forced / true against log10(SNR) (per decade) and its standard error.

    Each image's median ratio is taken out first (a per-image flux scale,
    e.g. its calibration, is not a trend with SNR), points beyond
    ``CLIP_SIGMA`` robust sigmas are left out, and the slope is the least
    squares one (``scipy.stats.linregress``) with its standard error.
    """
    y = ratio.astype(float).copy()
    for i in np.unique(image):
        sel = image == i
        y[sel] -= np.median(y[sel])
    deviation = np.abs(y - np.median(y))
    keep = deviation < CLIP_SIGMA * MAD_TO_SIGMA * np.median(deviation)
    fit = linregress(np.log10(snr[keep]), y[keep])
    return float(fit.slope), float(fit.stderr)


def current_images(db_url: str) -> list[dict]:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        images = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(
                    m.Image.id, m.Image.path, m.Image.ra_deg, m.Image.dec_deg, m.Image.freq_hz,
                    m.Image.integration_s, m.Image.beam_model_id,
                ).where(m.Image.image_type == "image-pb", m.Image.status == m.ProductStatus.OK)
            )
        ]  # fmt: skip
        models = {
            r.id: PrimaryBeamModel.from_record(r)
            for r in conn.execute(sa.select(m.BeamModel)).all()
        }
    engine.dispose()
    for image in images:
        mid = image["beam_model_id"]
        image["model"] = PrimaryBeamModel() if mid is None else models[mid]
    return images


def measure(image: dict, truth: SimTruth) -> dict[str, np.ndarray] | None:
    data, wcs, beam, _ = load_image(image["path"])
    ny, nx = data.shape
    x, y = wcs.world_to_pixel_values(truth.ra_deg, truth.dec_deg)
    inside = (x > 10) & (x < nx - 10) & (y > 10) & (y < ny - 10)
    k = np.flatnonzero(inside)
    if k.size == 0:
        return None
    ra, dec = truth.ra_deg[k], truth.dec_deg[k]
    c = (image["ra_deg"], image["dec_deg"], image["freq_hz"], image["integration_s"])
    true_gain = truth.drift_gain(ra, dec, *c)
    applied = drift_gain(image["model"], ra, dec, *c)
    expected = truth.flux_at(k, image["freq_hz"]) * true_gain / applied
    corrected, response = corrected_pb_image(image["path"], data, beam)
    if response is None:
        return None
    raw = forced_photometry(data, wcs, beam, ra, dec)
    fixed = forced_photometry(corrected, wcs, beam, ra, dec)
    good = (raw.flags == 0) & (fixed.flags == 0) & (true_gain > PB_LIMIT)
    return {
        "raw": (raw.flux_jy / expected)[good],
        "corrected": (fixed.flux_jy / expected)[good],
        "snr": (expected / raw.flux_err_jy)[good],  # the true SNR
        "response": np.full(good.sum(), response),
        "image": np.full(good.sum(), image["id"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--truth", type=Path, required=True)
    ap.add_argument("--db", required=True, help="products DB URL")
    ap.add_argument("--max-images", type=int, default=None)
    args = ap.parse_args()
    t0 = time.perf_counter()
    truth = SimTruth.load(args.truth)
    images = current_images(args.db)[: args.max_images]
    parts = [p for p in (measure(img, truth) for img in images) if p is not None]
    if not parts:
        raise SystemExit("no pb-corrected image with its WSClean residual, PSF and beam")
    cat = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    r = cat["response"]
    print(
        f"{len(parts)} images, {cat['snr'].size} clean measurements where the true beam > "
        f"{PB_LIMIT}; PSF response r: median {np.median(r):.3f} "
        f"(range {r.min():.3f}-{r.max():.3f})"
    )
    print(f"{'true SNR':>12} {'n':>6} {'raw':>8} {'+-':>6} {'corrected':>9} {'+-':>6}")
    medians = []
    for lo, hi in zip(SNR_EDGES[:-1], SNR_EDGES[1:], strict=True):
        sel = (cat["snr"] >= lo) & (cat["snr"] < hi)
        if sel.sum() < 5:
            continue
        raw, raw_se = median_and_error(cat["raw"][sel])
        fix, fix_se = median_and_error(cat["corrected"][sel])
        if lo >= TREND_SNR:
            medians.append((fix, fix_se))
        print(
            f"{lo:5.0f}-{hi:<6.0f} {sel.sum():6d} {raw:8.4f} {raw_se:6.4f} {fix:9.4f} {fix_se:6.4f}"
        )
    above = cat["snr"] >= TREND_SNR
    raw_all = median_and_error(cat["raw"][above])
    fix_all = median_and_error(cat["corrected"][above])
    spread = max(v for v, _ in medians) - min(v for v, _ in medians)
    print(
        f"above {TREND_SNR:.0f} sigma ({above.sum()}): raw {raw_all[0]:.4f} +- {raw_all[1]:.4f}, corrected "
        f"{fix_all[0]:.4f} +- {fix_all[1]:.4f}; spread of the corrected SNR-bin medians "
        f"{spread:.4f}"
    )
    for key in ("raw", "corrected"):
        slope, err = snr_trend(cat[key][above], cat["snr"][above], cat["image"][above])
        print(
            f"trend of {key} above {TREND_SNR:.0f} sigma (per-image scale removed): "
            f"{100 * slope:+.2f} +- {100 * err:.2f} % per decade of SNR ({slope / err:+.1f} sigma)"
        )
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
