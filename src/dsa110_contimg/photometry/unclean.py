"""Flux WSClean did not clean: the dirty beam's response to the restoring-beam filter.

A WSClean image is ``model * G + residual`` (``G`` the restoring Gaussian).
The cleaned part of a source has the kernel's shape and the matched filter
(:mod:`~dsa110_contimg.photometry.forced`) returns it exactly; the part left
in the residual has the shape of the dirty beam (PSF), whose main lobe falls
faster than the fitted Gaussian and whose first sidelobes are negative, so
the filter returns only

    ``r = sum(PSF K) / sum(K K)``

of it (``K`` the kernel centred on the PSF's peak, over the same cutout as
the photometry; :func:`psf_response` measures it with the photometry
itself, background subtraction included). Faint sources, below WSClean's auto-mask or beyond its
iteration budget, are not cleaned at all: their forced fluxes come out at
``r`` (0.92 was measured on a full DSA-110 tile; about 0.5 for a 5-minute
snapshot PSF with 30% sidelobes), and by a fraction that changes with each
epoch's cleaning. The correction is linear in the pixels:

    ``corrected = image + (1 / r - 1) residual``

i.e. photometry on ``model * G + residual / r``: every source, cleaned or
not, or partly, is measured at its full flux, and jointly fitted blends stay
linear. The noise (which lives in the residual) grows by ``1 / r`` with the
flux, so the SNR of an uncleaned source is unchanged; the rms map of the
corrected image carries it.

Given a catalog, the standard tier cleans to its thresholds inside circles
round the catalog's sources (:mod:`dsa110_contimg.imaging.mask`), so much
less is left uncleaned; the correction still applies to what is.

On the pb-corrected image the residual is divided by the same primary beam
(``<prefix>-beam.fits``); :func:`corrected_pb_image` finds the WSClean
siblings of an ``<prefix>-image-pb.fits`` by name and leaves the image as it
is when they are not there.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from dsa110_contimg.photometry.beam import Beam

log = logging.getLogger(__name__)

MIN_RESPONSE = 0.2
"""Below this PSF response the correction (x 1/r on the residual) is refused."""


def psf_response(psf: np.ndarray, wcs: WCS, beam: Beam, cutout_beams: float = 3.0) -> float:
    """The forced flux of the PSF itself: ``r`` for a point source of 1 Jy left uncleaned.

    The PSF is measured at its peak exactly as a source is measured (the
    same kernel, cutout and background subtraction), so that ``r`` holds
    whatever the photometry does to a PSF-shaped source: the kernel's
    mismatch with the main lobe (``sum(PSF K) / sum(K K)``) and, with
    WSClean's short-baseline cut, the source's own negative bowl that the
    background map partly takes away.

    Parameters
    ----------
    psf : numpy.ndarray
        The dirty beam, shape (ny, nx), peak 1 (WSClean's ``-psf.fits``).
    wcs : astropy.wcs.WCS
        Celestial WCS of ``psf``.
    beam : Beam
        The restoring beam fitted to it.
    cutout_beams : float
        Cutout side in BMAJ, as in
        :func:`~dsa110_contimg.photometry.forced.forced_photometry`.

    Returns
    -------
    float
        The response ``r`` (1 for a PSF equal to the restoring beam).
    """
    from dsa110_contimg.photometry.forced import forced_photometry

    psf = np.nan_to_num(np.asarray(psf, float))
    yc, xc = np.unravel_index(np.argmax(psf), psf.shape)
    ra, dec = wcs.wcs_pix2world([float(xc)], [float(yc)], 0)
    result = forced_photometry(
        psf / psf[yc, xc],
        wcs,
        beam,
        ra,
        dec,
        rms_map=np.ones(psf.shape),
        cutout_beams=cutout_beams,
        upper_limit_snr=0.0,
    )
    return float(result.flux_jy[0])


def rescale_residual(image: np.ndarray, residual: np.ndarray, response: float) -> np.ndarray:
    """``image + (1 / r - 1) residual``: the uncleaned flux brought to the kernel's scale.

    Raises
    ------
    ValueError
        If ``response`` is not in (:data:`MIN_RESPONSE`, 1.5).
    """
    if not MIN_RESPONSE < response < 1.5:
        raise ValueError(f"PSF response {response:.3f} outside ({MIN_RESPONSE}, 1.5)")
    return image + (1.0 / response - 1.0) * residual


def sibling(pb_path: str | Path, kind: str) -> Path:
    """``<prefix>-<kind>.fits`` beside ``<prefix>-image-pb.fits``."""
    path = Path(pb_path)
    prefix = path.name.removesuffix(".fits").removesuffix("-image-pb")
    return path.with_name(f"{prefix}-{kind}.fits")


def _plane(path: Path) -> tuple[np.ndarray, fits.Header]:
    with fits.open(path) as hdul:
        data = np.asarray(hdul[0].data, dtype=float)
        header = hdul[0].header
    while data.ndim > 2:
        data = data[0]
    return data, header


def corrected_pb_image(
    pb_path: str | Path, data: np.ndarray, beam: Beam, cutout_beams: float = 3.0
) -> tuple[np.ndarray, float | None]:
    """The pb-corrected image with its residual rescaled by the PSF response.

    Parameters
    ----------
    pb_path : str or Path
        ``<prefix>-image-pb.fits``; its siblings ``-residual``, ``-psf`` and
        ``-beam`` are read when all three exist.
    data : numpy.ndarray
        The pixels of ``pb_path``, Jy/beam (NaN = blanked; kept so).
    beam : Beam
        Its restoring beam.
    cutout_beams : float
        As for the photometry.

    Returns
    -------
    data : numpy.ndarray
        Corrected pixels (``data`` itself when a sibling is missing or does
        not match its shape).
    response : float or None
        The PSF response ``r`` used, None when not corrected.
    """
    paths = {kind: sibling(pb_path, kind) for kind in ("residual", "psf", "beam")}
    if not all(p.is_file() for p in paths.values()):
        return data, None
    residual, _ = _plane(paths["residual"])
    primary, _ = _plane(paths["beam"])
    psf, psf_header = _plane(paths["psf"])
    if residual.shape != data.shape or primary.shape != data.shape:
        log.warning("%s: residual or beam not on the image grid: no PSF correction", pb_path)
        return data, None
    response = psf_response(psf, WCS(psf_header).celestial, beam, cutout_beams)
    if not MIN_RESPONSE < response < 1.5:
        log.warning("%s: PSF response %.3f implausible: no PSF correction", pb_path, response)
        return data, None
    with np.errstate(invalid="ignore", divide="ignore"):
        residual_pb = np.where(np.isfinite(data), residual / primary, np.nan)
    log.info("%s: residual rescaled by 1/%.4f (uncleaned flux)", pb_path, response)
    return rescale_residual(data, residual_pb, response), response
