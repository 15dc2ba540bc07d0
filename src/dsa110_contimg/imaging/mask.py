"""Clean masks from catalog positions: deep cleaning where the sky is known to have sources.

Why (issue 16 §3, ``benchmarks/unclean_flux.py``): with WSClean's auto-mask
and the operating pipeline's 1000-iteration cap, a snapshot tile stops
cleaning far above the noise (about 9 sigma on the 48-antenna test layout).
Sources between 10 and 50 sigma are then partly cleaned, the uncleaned parts
of every source leave their sidelobes in the residual, and the forced fluxes
carry an SNR trend: corrected forced / true 0.986 at 10-20 sigma, 0.995 at
20-50, 1.001 at 100-300 (22 images). Cleaning deeper without a mask made it
worse (components on noise peaks). Cleaning to the noise but only inside
circles round the catalog's sources removes the trend and lowers the rms.

So a tier with ``catalog_mask_arcsec`` set images in one WSClean run with
``-fits-mask``: circles of that radius round every catalog source on the
image (all catalogs, calibrators included), cleaned up to
``catalog_mask_niter`` iterations. A source the catalog lacks (a new
transient) would stay uncleaned, its sidelobes in the image; so after the run
the residual outside the mask is searched for peaks above
``catalog_mask_rescue_snr`` times its rms, and if there are any, their
positions join the mask and the tile is imaged again (logged; once).
Uncleaned flux is measured in full either way
(:mod:`~dsa110_contimg.photometry.unclean`).

The mask is on the grid WSClean writes: SIN projection about the phase
centre, ``CRPIX = size / 2 + 1`` on both axes, RA increasing to the left.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from dsa110_contimg.qa.image_qa import read_plane, robust_rms

if TYPE_CHECKING:
    from dsa110_contimg.imaging.tiers import ImagingTier

log = logging.getLogger(__name__)


def tile_wcs(size: int, cell_arcsec: float, ra_deg: float, dec_deg: float) -> WCS:
    """The celestial WCS of a ``size`` x ``size`` WSClean image centred on a phase centre."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.crpix = [size / 2 + 1, size / 2 + 1]
    w.wcs.crval = [ra_deg, dec_deg]
    w.wcs.cdelt = [-cell_arcsec / 3600.0, cell_arcsec / 3600.0]
    w.wcs.radesys = "ICRS"
    return w


def circles(
    shape: tuple[int, int],
    wcs: WCS,
    ra_deg: np.ndarray,
    dec_deg: np.ndarray,
    radius_arcsec: float,
) -> np.ndarray:
    """Boolean mask, True within ``radius_arcsec`` of any position (those off the grid skipped)."""
    ny, nx = shape
    mask = np.zeros(shape, bool)
    ra = np.atleast_1d(np.asarray(ra_deg, float))
    dec = np.atleast_1d(np.asarray(dec_deg, float))
    if ra.size == 0:
        return mask
    x, y = wcs.world_to_pixel_values(ra, dec)
    cell = abs(float(wcs.wcs.cdelt[1])) * 3600.0
    r = radius_arcsec / cell
    half = int(np.ceil(r))
    dy, dx = np.mgrid[-half : half + 1, -half : half + 1]
    for px, py in zip(np.asarray(x), np.asarray(y), strict=True):
        if not (np.isfinite(px) and np.isfinite(py)):
            continue
        ix, iy = int(round(px)), int(round(py))
        if ix + half < 0 or iy + half < 0 or ix - half >= nx or iy - half >= ny:
            continue
        disk = (dx + ix - px) ** 2 + (dy + iy - py) ** 2 <= r * r
        y0, x0 = max(iy - half, 0), max(ix - half, 0)
        y1, x1 = min(iy + half + 1, ny), min(ix + half + 1, nx)
        mask[y0:y1, x0:x1] |= disk[
            y0 - (iy - half) : y1 - (iy - half), x0 - (ix - half) : x1 - (ix - half)
        ]
    return mask


def write_mask(path: str | Path, mask: np.ndarray, wcs: WCS) -> Path:
    """Write a WSClean ``-fits-mask`` file (1 = clean here) with the image's axes."""
    header = wcs.to_header()
    data = mask.astype(np.float32)[None, None]
    hdu = fits.PrimaryHDU(data=data, header=header)
    hdu.header["CTYPE3"], hdu.header["CRVAL3"], hdu.header["CDELT3"] = "FREQ", 1.4e9, 1.0
    hdu.header["CRPIX3"] = 1.0
    hdu.header["CTYPE4"], hdu.header["CRVAL4"], hdu.header["CDELT4"] = "STOKES", 1.0, 1.0
    hdu.header["CRPIX4"] = 1.0
    hdu.writeto(path, overwrite=True)
    return Path(path)


MAX_RESCUED = 20
"""Most sources a rescue adds to the mask (the brightest first)."""


def peaks_outside(
    residual: np.ndarray,
    mask: np.ndarray,
    wcs: WCS,
    snr: float,
    usable: np.ndarray | None = None,
    psf: np.ndarray | None = None,
    max_peaks: int = MAX_RESCUED,
    floor: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Sources left uncleaned outside ``mask``: residual peaks above ``snr`` x rms.

    Greedy, brightest first: each peak found is taken out of a copy of the
    residual as the PSF scaled to it (``psf``: WSClean's ``-psf.fits``,
    peak 1, same grid), so the sidelobes of one uncatalogued source are not
    taken for more of them, and the pixels round it are passed over. The
    rms is QA's clipped MAD rms (:func:`~dsa110_contimg.qa.image_qa.robust_rms`)
    of the usable pixels (``usable``: the field; default every finite
    pixel), which the sources barely move.
    ``floor`` (Jy/beam): no peak below it is taken, whatever its SNR.

    Returns
    -------
    ra_deg, dec_deg : numpy.ndarray
        The peaks found (at most ``max_peaks``), degrees.
    rms : float
        The residual's rms, Jy/beam.
    """
    finite = np.isfinite(residual)
    good = finite if usable is None else finite & usable
    values = residual[good]
    if values.size == 0:
        return np.empty(0), np.empty(0), float("nan")
    rms = robust_rms(values)
    if not rms > 0:
        return np.empty(0), np.empty(0), rms
    work = np.where(good, residual, 0.0)
    passed = mask | ~good
    ny, nx = work.shape
    if psf is not None:
        pyc, pxc = np.unravel_index(np.argmax(psf), psf.shape)
    found: list[tuple[int, int]] = []
    while len(found) < max_peaks:
        j = int(np.argmax(np.where(passed, -np.inf, work)))
        y, x = divmod(j, nx)
        peak = work[y, x]
        if passed[y, x] or not peak > max(snr * rms, floor):
            break
        found.append((x, y))
        if psf is not None:  # take the source's PSF out: its sidelobes are not sources
            dy, dx = y - pyc, x - pxc
            ys, yd = (
                slice(max(0, -dy), min(ny, psf.shape[0] - dy)),
                slice(max(0, dy), min(ny, psf.shape[0] + dy)),
            )
            xs, xd = (
                slice(max(0, -dx), min(nx, psf.shape[1] - dx)),
                slice(max(0, dx), min(nx, psf.shape[1] + dx)),
            )
            work[yd, xd] -= peak * psf[ys, xs]
        y0, x0 = max(y - 3, 0), max(x - 3, 0)
        passed[y0 : y + 4, x0 : x + 4] = True
    if not found:
        return np.empty(0), np.empty(0), rms
    xs_, ys_ = np.array(found, float).T
    ra, dec = wcs.pixel_to_world_values(xs_, ys_)
    return np.atleast_1d(ra) % 360.0, np.atleast_1d(dec), rms


@dataclass
class CleanMask:
    """A tier's catalog clean mask on its image grid, its file, and what was added to it."""

    tier: ImagingTier
    wcs: WCS
    mask: np.ndarray
    path: Path
    n_sources: int
    rescued: int = 0

    @classmethod
    def from_catalog(
        cls,
        tier: ImagingTier,
        ra0_deg: float,
        dec0_deg: float,
        ra_deg: np.ndarray,
        dec_deg: np.ndarray,
        *,
        path: str | Path,
    ) -> CleanMask | None:
        """Circles of ``tier.catalog_mask_arcsec`` round the sources on the image, written to ``path``.

        Returns None when the tier has no catalog mask or no source falls on the image.
        """
        if tier.catalog_mask_arcsec is None:
            return None
        wcs = tile_wcs(tier.size, tier.cell_arcsec, ra0_deg, dec0_deg)
        ra = np.atleast_1d(np.asarray(ra_deg, float))
        dec = np.atleast_1d(np.asarray(dec_deg, float))
        if ra.size == 0:
            return None
        x, y = wcs.world_to_pixel_values(ra, dec)
        on = np.isfinite(x) & np.isfinite(y) & (x > -0.5) & (y > -0.5)
        on &= (x < tier.size - 0.5) & (y < tier.size - 0.5)
        if not on.any():
            return None
        shape = (tier.size, tier.size)
        mask = circles(shape, wcs, ra[on], dec[on], tier.catalog_mask_arcsec)
        write_mask(path, mask, wcs)
        log.info(
            "clean mask %s: %d catalog sources, %.0f arcsec circles, %.2f%% of the image",
            path, int(on.sum()), tier.catalog_mask_arcsec, 100 * mask.mean(),
        )  # fmt: skip
        return cls(tier=tier, wcs=wcs, mask=mask, path=Path(path), n_sources=int(on.sum()))

    def rescue(self, prefix: str | Path) -> bool:
        """Add residual peaks outside the mask (sources the catalog lacks); True if any (once).

        ``prefix``: the WSClean run's, whose ``-residual``, ``-image`` and
        ``-psf`` FITS are read.

        Looks where the image is usable: within ``size / 2`` pixels of the
        centre (the tier's field is the circle where the primary beam is
        above its ``pb_limit``). A peak must pass ``catalog_mask_rescue_snr``
        x rms and ``catalog_mask_rescue_fraction`` x the image's peak: the
        calibration errors of the field's brightest source leave sidelobes
        of a few per cent of it, which a second run would only clean as the
        auto-mask does, at twice the cost; a source the catalog lacks below
        that level spoils the image no more than they do.
        """
        snr = self.tier.catalog_mask_rescue_snr
        if snr is None or self.rescued:
            return False
        residual_path = Path(f"{prefix}-residual.fits")
        residual = read_plane(residual_path)[0]
        image_path, psf_path = Path(f"{prefix}-image.fits"), Path(f"{prefix}-psf.fits")
        image = read_plane(image_path)[0] if image_path.is_file() else None
        if residual.shape != self.mask.shape:
            log.warning("%s is not on the mask's grid: no rescue", residual_path)
            return False
        n = self.mask.shape[0]
        yy, xx = np.ogrid[:n, :n]
        usable = (xx - n / 2) ** 2 + (yy - n / 2) ** 2 <= (n / 2) ** 2
        psf = read_plane(psf_path)[0] if psf_path.is_file() else None
        if psf is not None and psf.shape != residual.shape:
            psf = None
        floor = 0.0
        if image is not None and image.shape == residual.shape:  # the field's dynamic range
            floor = self.tier.catalog_mask_rescue_fraction * float(np.nanmax(image[usable]))
        ra, dec, rms = peaks_outside(residual, self.mask, self.wcs, snr, usable, psf, floor=floor)
        if ra.size == 0:
            return False
        radius = float(self.tier.catalog_mask_arcsec or 0.0)
        self.mask |= circles(self.mask.shape, self.wcs, ra, dec, radius)
        write_mask(self.path, self.mask, self.wcs)
        self.rescued = int(ra.size)
        log.warning(
            "%s: %d residual peaks above %g x rms (%.2f mJy/beam) outside the catalog mask, "
            "e.g. at RA %.4f Dec %.4f (sources the catalog lacks): added to the mask, imaging again",
            residual_path, ra.size, snr, rms * 1e3, ra[0], dec[0],
        )  # fmt: skip
        return True

    def summary(self) -> dict[str, Any]:
        """What the result records: sources, pixel fraction, peaks added."""
        return {
            "sources": self.n_sources,
            "radius_arcsec": self.tier.catalog_mask_arcsec,
            "fraction": round(float(self.mask.mean()), 5),
            "rescued": self.rescued,
        }


def catalog_positions(
    store_path: str | Path, ra_deg: float, dec_deg: float, radius_deg: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """RA and Dec of every catalog's sources within ``radius_deg``; None without a store.

    Calibrator lists included: a calibrator in the field must be cleaned too.
    """
    from dsa110_contimg.catalog.store import CatalogStore

    path = Path(store_path)
    if not path.is_file():
        return None
    with CatalogStore(path) as store:
        cones = [store.cone(name, ra_deg, dec_deg, radius_deg) for name in store.catalogs()]
    if not cones:
        return None
    found = np.concatenate(cones)
    return found["ra_deg"].astype(float), found["dec_deg"].astype(float)
