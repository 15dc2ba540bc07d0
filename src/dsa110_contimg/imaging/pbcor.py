"""Primary-beam correction with our Airy model (Debian's WSClean has no EveryBeam).

The dishes never track: during a group the pointing is the meridian at the
strip's declination, so its RA is the local sidereal time of each
integration. The MS phase centre is that meridian at the group's mid time
(ICRS); its declination of date (an HA-Dec transformation at the mid time)
fixes the strip. The beam that multiplies the sky in an MFS image is the
average of the instantaneous beams, weighted like the data::

    B(x) = sum_{t,f} n_{t,f} A(theta_t(x), f) / sum_{t,f} n_{t,f}

with ``n_{t,f}`` the unflagged cross-correlation samples of integration
``t`` and channel ``f`` (:class:`~.msinfo.MSSummary`), ``A`` the Airy power
(:func:`dsa110_contimg.telescope.primary_beam`) and ``theta_t`` the distance
from the pointing at ``t``. Channels are grouped into at most
``max_freqs`` bins (the bins' weighted mean frequency and summed counts),
and the beam, smooth on the scale of degrees, is evaluated on a coarse
grid every ``step`` pixels and interpolated (cubic) to every pixel: a
2400 x 2400 beam from 24 integrations costs well under a second. The
imaging weights (Briggs) are not included: they reweight baselines, not
times or channels, to first order.

Site: the array's T-centre (:func:`dsa110_contimg.telescope.site_location`);
a km-scale error in it moves the beam by about 0.01 deg.

A beam model measured on the sky (``Settings.beam_model = "measured"``, a
registered ``beam_models`` version) replaces ``A`` through one hook,
:func:`beam_gain`; the time and band averaging stay the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np
from astropy.coordinates import HADec, SkyCoord
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS
from scipy import ndimage

from dsa110_contimg.imaging.msinfo import MSSummary
from dsa110_contimg.telescope import (
    airy_power,
    angular_separation,
    drift_pointing_icrs,
    site_location,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from dsa110_contimg.telescope.beam import PrimaryBeamModel

AIRY_PBMODEL = "Airy D=4.65m, time+band average"
"""``PBMODEL`` header of images corrected with the built-in Airy."""


def beam_gain(
    offset_rad: ArrayLike, freq_hz: ArrayLike, model: PrimaryBeamModel | None = None
) -> np.ndarray:
    """The one hook of beam models: power at offsets from the pointing, for a model.

    ``model`` None is the pipeline's Airy (:func:`dsa110_contimg.telescope.airy_power`);
    otherwise a registered model (``Settings.beam_model = "measured"``, see
    :mod:`dsa110_contimg.qa.beam_profile`). Offsets in radians, frequencies in
    Hz, broadcast together.
    """
    if model is None:
        return airy_power(offset_rad, freq_hz)
    return model.gain(offset_rad, freq_hz)


def pointing_track(summary: MSSummary) -> tuple[np.ndarray, np.ndarray]:
    """ICRS pointing (meridian at the strip's declination) at each integration.

    Returns
    -------
    ra_rad, dec_rad : numpy.ndarray
        Shape (Nt,), radians.
    """
    mid = Time(summary.mjd_mid, format="mjd", scale="utc")
    centre = SkyCoord(ra=summary.phase_ra_deg * u.deg, dec=summary.phase_dec_deg * u.deg)
    dec_of_date = centre.transform_to(HADec(obstime=mid, location=site_location())).dec.deg
    return drift_pointing_icrs(np.asarray(summary.times_mjd), dec_of_date)


def band_bins(summary: MSSummary, max_freqs: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies and (Nt, Nbin) sample weights of up to ``max_freqs`` channel bins."""
    nchan = summary.freqs_hz.size
    edges = np.linspace(0, nchan, min(max_freqs, nchan) + 1).astype(int)
    weights = np.add.reduceat(summary.samples, edges[:-1], axis=1)
    per_chan = summary.samples.sum(0)
    total = np.add.reduceat(per_chan, edges[:-1])
    fsum = np.add.reduceat(per_chan * summary.freqs_hz, edges[:-1])
    plain = np.add.reduceat(summary.freqs_hz, edges[:-1]) / np.diff(edges)
    freqs = np.where(total > 0, fsum / np.maximum(total, 1e-300), plain)
    return freqs, weights


def drift_beam(
    wcs: WCS,
    shape: tuple[int, int],
    summary: MSSummary,
    *,
    step: int = 16,
    max_freqs: int = 16,
    beam_model: PrimaryBeamModel | None = None,
) -> np.ndarray:
    """Time- and band-averaged primary beam on an image grid (see the module notes).

    Parameters
    ----------
    wcs
        Celestial WCS of the image.
    shape
        Image shape (ny, nx).
    summary
        The imaged MS.
    step
        Coarse-grid spacing, pixels.
    max_freqs
        Most frequency bins.
    beam_model
        The model of the instantaneous beam (:func:`beam_gain`; None: Airy).

    Returns
    -------
    numpy.ndarray
        Beam power relative to the pointing centre, shape ``shape``, in [0, 1].
    """
    ny, nx = shape
    gy = np.arange(0, ny + step, step, dtype=float).clip(max=ny - 1)
    gx = np.arange(0, nx + step, step, dtype=float).clip(max=nx - 1)
    yy, xx = np.meshgrid(np.unique(gy), np.unique(gx), indexing="ij")
    ra, dec = wcs.wcs_pix2world(xx, yy, 0)
    ra, dec = np.radians(ra), np.radians(dec)
    p_ra, p_dec = pointing_track(summary)
    freqs, weights = band_bins(summary, max_freqs)
    if weights.sum() <= 0:  # everything flagged: weight integrations and bins equally
        weights = np.ones_like(weights)
    coarse = np.zeros(ra.shape)
    for t in range(p_ra.size):
        if weights[t].sum() <= 0:
            continue
        offset = angular_separation(p_ra[t], p_dec[t], ra[..., None], dec[..., None])
        power = beam_gain(offset, freqs, beam_model)
        coarse += power @ weights[t]
    coarse /= weights.sum()
    coarse = np.nan_to_num(coarse)  # pixels off the projection (none for SIN tiles)
    ys = np.interp(np.arange(ny), yy[:, 0], np.arange(yy.shape[0]))
    xs = np.interp(np.arange(nx), xx[0], np.arange(xx.shape[1]))
    grid = np.meshgrid(ys, xs, indexing="ij")
    return np.clip(ndimage.map_coordinates(coarse, grid, order=3, mode="nearest"), 0.0, 1.0)


def write_pb_products(
    image_path: str,
    beam_path: str,
    pb_path: str,
    summary: MSSummary,
    *,
    pb_limit: float = 0.2,
    beam_model: PrimaryBeamModel | None = None,
) -> np.ndarray:
    """Write the beam FITS and the pb-corrected image (NaN where beam < ``pb_limit``).

    Parameters
    ----------
    image_path
        WSClean's ``-image.fits`` (restored, flat-noise).
    beam_path, pb_path
        Files to write: the beam (same grid and header) and image / beam.
    summary
        The imaged MS.
    pb_limit
        Blanking level, relative to the beam peak.
    beam_model
        A registered beam model (None: the Airy); named in ``PBMODEL`` and its
        id in ``PBMODID``.

    Returns
    -------
    numpy.ndarray
        The beam, shape (ny, nx).
    """
    with fits.open(image_path) as hdul:
        header = hdul[0].header.copy()
        data = np.asarray(hdul[0].data, dtype=np.float32)
    plane = data.reshape(data.shape[-2:])
    beam = drift_beam(WCS(header).celestial, plane.shape, summary, beam_model=beam_model).astype(
        np.float32
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        corrected = np.where(beam >= pb_limit, plane / beam, np.nan).astype(np.float32)
    beam_header = header.copy()
    beam_header["BUNIT"] = ("", "primary-beam power relative to its peak")
    beam_header["BTYPE"] = "Beam"
    for key in ("BMAJ", "BMIN", "BPA"):
        beam_header.remove(key, ignore_missing=True)
    pbmodel = AIRY_PBMODEL if beam_model is None else f"{beam_model.describe()}, time+band average"
    beam_header["PBMODEL"] = (pbmodel, "primary-beam model")
    if beam_model is not None and beam_model.model_id is not None:
        beam_header["PBMODID"] = (beam_model.model_id, "beam_models id in the products DB")
    fits.writeto(beam_path, beam.reshape(data.shape), beam_header, overwrite=True)
    header["PBCOR"] = (True, "divided by the primary beam")
    header["PBLIMIT"] = (pb_limit, "blanked where the beam is below this")
    for key in ("PBMODEL", "PBMODID"):
        if key in beam_header:
            header[key] = (beam_header[key], beam_header.comments[key])
    fits.writeto(pb_path, corrected.reshape(data.shape), header, overwrite=True)
    return beam
