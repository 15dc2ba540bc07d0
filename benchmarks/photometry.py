"""Forced-photometry throughput on a 2400 x 2400 image (6 arcsec cells, 16 deg^2).

Prints sources per second per core (best of 3 runs) of the matched filter
(``dsa110_contimg.photometry.forced``) at three source densities for a
25 x 15 arcsec beam: the NVSS catalog's own (~53 per deg^2, 848 positions
on the image: the real case, where one image's fixed costs dominate), 10x
that, and 10^5 positions (118x NVSS, 88% within 1.5 BMAJ of another: nearly
all fitted jointly, one linked group of ~98,000); then 10^5 for a 15 x 12
arcsec beam. For 10^5 positions it also times the same code without joint fitting
and a naive per-source loop on a subset, and checks that both give the same
fluxes. numpy is limited to one thread and numba runs serially, so the
figures are per core.

Run: ``.venv/bin/python benchmarks/photometry.py [n_sources_at_100x]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import sys  # noqa: E402 (threads limited first)
import time  # noqa: E402 (threads limited first)

import numpy as np  # noqa: E402 (threads limited first)
from astropy.wcs import WCS  # noqa: E402 (threads limited first)

from dsa110_contimg.photometry.background import background_rms_map  # noqa: E402 (threads limited first)
from dsa110_contimg.photometry.beam import Beam, pixel_covariance, sky_to_pixel_jacobian  # noqa: E402 (threads limited first)
from dsa110_contimg.photometry.forced import forced_photometry  # noqa: E402 (threads limited first)

N_PIX = 2400
CELL_ARCSEC = 6.0


def make_image(
    rng: np.random.Generator, n_src: int, beam: Beam
) -> tuple[np.ndarray, WCS, np.ndarray, np.ndarray]:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [150.0, 40.0]
    wcs.wcs.crpix = [N_PIX / 2 + 1, N_PIX / 2 + 1]
    wcs.wcs.cdelt = [-CELL_ARCSEC / 3600, CELL_ARCSEC / 3600]
    image = rng.normal(0, 2e-3, (N_PIX, N_PIX))
    xy = rng.uniform(5, N_PIX - 5, (n_src, 2))
    ra, dec = wcs.wcs_pix2world(xy[:, 0], xy[:, 1], 0)
    return image, wcs, ra, dec


def naive(image, rms, wcs, beam, ra, dec) -> np.ndarray:
    """One source at a time: the straightforward implementation."""
    out = np.empty(len(ra))
    half = int(np.ceil(1.5 * beam.bmaj_deg * 3600 / CELL_ARCSEC))
    for i in range(len(ra)):
        x, y = wcs.wcs_world2pix(ra[i], dec[i], 0)
        jac = sky_to_pixel_jacobian(wcs, np.array([ra[i]]), np.array([dec[i]]))
        inv = np.linalg.inv(pixel_covariance(beam, jac)[0])
        xc, yc = int(round(float(x))), int(round(float(y)))
        ys = slice(max(yc - half, 0), min(yc + half + 1, N_PIX))
        xs = slice(max(xc - half, 0), min(xc + half + 1, N_PIX))
        yy, xx = np.mgrid[ys, xs]
        dx, dy = xx - x, yy - y
        k = np.exp(-0.5 * (inv[0, 0] * dx**2 + 2 * inv[0, 1] * dx * dy + inv[1, 1] * dy**2))
        # noise constant over the cutout: the rms map at the position
        out[i] = np.sum(image[ys, xs] * k) / np.sum(k * k)
    return out


def best_of(repeats: int, func, *args, **kwargs):
    """Result and the shortest wall time of a few runs (the machine may be shared)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = func(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return result, min(times)


NVSS_PER_DEG2 = 53.0
"""NVSS: 1.8 million sources over the 34,000 deg^2 north of -40 deg."""


def throughput(beam: Beam, n_src: int, rng: np.random.Generator, compare: bool) -> None:
    image, wcs, ra, dec = make_image(rng, n_src, beam)
    start = time.perf_counter()
    _, rms = background_rms_map(image)
    t_rms = time.perf_counter() - start
    res, t_vec = best_of(3, forced_photometry, image, wcs, beam, ra, dec, rms_map=rms)
    blended = np.mean(res.flags & 4 != 0)
    area = (N_PIX * CELL_ARCSEC / 3600) ** 2
    print(
        f"beam {beam.bmaj_deg * 3600:.0f}x{beam.bmin_deg * 3600:.0f} arcsec, {n_src:,} positions "
        f"({n_src / area / NVSS_PER_DEG2:.0f}x NVSS, {blended:.0%} within 1.5 BMAJ of another):"
        f" {t_vec * 1e3:.1f} ms = {n_src / t_vec:,.0f} sources/s/core"
    )
    if not compare:
        return
    n_sub = 2000
    ref, t_naive = best_of(3, naive, image, rms, wcs, beam, ra[:n_sub], dec[:n_sub])
    single = forced_photometry(
        image, wcs, beam, ra[:n_sub], dec[:n_sub], rms_map=rms, joint_beams=0, blend_beams=0
    )
    agree = np.max(np.abs(single.flux_jy - ref))
    options = dict(rms_map=rms, joint_beams=0, blend_beams=0)
    _, t_single = best_of(3, forced_photometry, image, wcs, beam, ra, dec, **options)
    print(
        f"  no joint fitting: {t_single:.3f} s = {n_src / t_single:,.0f} sources/s/core;"
        f" naive loop {n_sub / t_naive:,.0f} sources/s/core"
        f" (max |flux difference| {agree:.1e} Jy); rms map (once per image) {t_rms:.2f} s"
    )


def main() -> None:
    n_src = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rng = np.random.default_rng(0)
    beam = Beam(25 / 3600, 15 / 3600, 20.0)
    image, wcs, ra, dec = make_image(rng, 2000, beam)
    forced_photometry(image, wcs, beam, ra, dec)  # warm-up (compiled loops)
    area = (N_PIX * CELL_ARCSEC / 3600) ** 2
    for n in (round(NVSS_PER_DEG2 * area), round(10 * NVSS_PER_DEG2 * area), n_src):
        throughput(beam, n, rng, compare=n == n_src)
    throughput(Beam(15 / 3600, 12 / 3600, 20.0), n_src, rng, compare=True)


if __name__ == "__main__":
    main()
