"""Relative flux normalisation of epochs with steady reference sources.

As the operating pipeline (``docs/dsa110.md`` §3):

1. references: up to 20 steady, compact, bright (SNR >= 50) sources within
   1.5 deg of the field centre (:func:`select_references`);
2. each reference's baseline is the median of its first 10 measured epochs
   (:func:`reference_baselines`);
3. an epoch's correction ``C`` is the median of ``current / baseline`` over
   the references, after clipping ratios more than 3 sigma (1.4826 x MAD)
   from the median; at least 3 must survive, else ``C`` is NaN (unknown;
   do not normalise that epoch) (:func:`epoch_corrections`);
4. ``F_norm = F / C`` with ``sigma_norm^2 = sigma_F^2 / C^2 + F^2 sigma_C^2 / C^4``
   (:func:`apply_correction`).

The error of ``C`` is that of the median of Gaussian ratios with unequal
errors ``s_i`` (``sigma_F / baseline``), ``sqrt(pi / 2) / (sqrt(n) mean(1 / s_i))``,
inflated by ``sqrt(chi2_nu)`` of the survivors about ``C`` when that exceeds
1 (reference variability or calibration scatter the errors miss).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from dsa110_contimg.photometry.background import MAD_TO_SIGMA

MEDIAN_EFFICIENCY = 1.2533141373155001
"""Standard error of a Gaussian sample's median per standard error of its mean (sqrt(pi/2))."""


@dataclass
class EpochCorrections:
    """Per-epoch relative flux corrections (arrays of shape (n_epochs,)).

    Attributes
    ----------
    factor : numpy.ndarray
        ``C``: measured / baseline flux of the references; NaN if fewer than
        ``min_references`` survived the clipping.
    factor_err : numpy.ndarray
        1-sigma error of ``C``.
    n_references : numpy.ndarray
        References used (after clipping), int.
    """

    factor: np.ndarray
    factor_err: np.ndarray
    n_references: np.ndarray


def select_references(
    separation_deg: np.ndarray,
    snr: np.ndarray,
    *,
    compact: np.ndarray | None = None,
    steady: np.ndarray | None = None,
    max_radius_deg: float = 1.5,
    min_snr: float = 50.0,
    max_references: int = 20,
) -> np.ndarray:
    """Choose the reference sources of a field.

    Parameters
    ----------
    separation_deg : array_like
        Distance of each candidate from the field centre, degrees.
    snr : array_like
        Signal-to-noise ratio of each candidate (e.g. catalog or median
        forced-photometry SNR).
    compact, steady : array_like of bool, optional
        Which candidates are unresolved and not known to vary (default all).
    max_radius_deg, min_snr, max_references : float, float, int
        Selection limits (defaults 1.5 deg, SNR 50, 20 sources).

    Returns
    -------
    numpy.ndarray
        Indices of the chosen references, brightest (highest SNR) first.
    """
    sep, snr = np.asarray(separation_deg, float), np.asarray(snr, float)
    ok = (sep <= max_radius_deg) & (snr >= min_snr)
    if compact is not None:
        ok &= np.asarray(compact, bool)
    if steady is not None:
        ok &= np.asarray(steady, bool)
    chosen = np.flatnonzero(ok)
    return chosen[np.argsort(-snr[chosen], kind="stable")][:max_references]


def reference_baselines(flux: np.ndarray, n_baseline: int = 10) -> np.ndarray:
    """Median of each reference's first ``n_baseline`` measured epochs.

    Parameters
    ----------
    flux : numpy.ndarray
        Shape (n_references, n_epochs) in time order, Jy; NaN = not measured.
    n_baseline : int
        Epochs in the baseline (default 10; fewer if fewer exist).

    Returns
    -------
    numpy.ndarray
        Shape (n_references,), Jy (NaN for a reference never measured).
    """
    flux = np.asarray(flux, float)
    measured = np.isfinite(flux)
    rank = np.cumsum(measured, axis=1)
    first = np.where(measured & (rank <= n_baseline), flux, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows -> NaN
        return np.nanmedian(first, axis=1)


def epoch_corrections(
    flux: np.ndarray,
    flux_err: np.ndarray,
    baseline: np.ndarray,
    *,
    clip_sigma: float = 3.0,
    min_references: int = 3,
) -> EpochCorrections:
    """Correction factor of each epoch from its references (vectorised over epochs).

    Parameters
    ----------
    flux, flux_err : numpy.ndarray
        Reference measurements, shape (n_references, n_epochs) (or
        (n_references,) for one epoch), Jy; NaN = not measured.
    baseline : numpy.ndarray
        Shape (n_references,), Jy (:func:`reference_baselines`).
    clip_sigma : float
        Ratios further than this many sigma (MAD-based) from the median are
        dropped (default 3).
    min_references : int
        Fewest surviving references for a valid factor (default 3).

    Returns
    -------
    EpochCorrections
    """
    flux = np.asarray(flux, float)
    single = flux.ndim == 1
    flux = flux.reshape(flux.shape[0], -1)
    err = np.asarray(flux_err, float).reshape(flux.shape)
    base = np.asarray(baseline, float)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ratio = np.where(base > 0, flux / base, np.nan)
        ratio_err = err / base
        median = np.nanmedian(ratio, axis=0)
        spread = MAD_TO_SIGMA * np.nanmedian(np.abs(ratio - median), axis=0)
        keep = np.abs(ratio - median) <= clip_sigma * np.maximum(spread, 1e-12)
        kept = np.where(keep, ratio, np.nan)
        factor = np.nanmedian(kept, axis=0)
        n_used = keep.sum(axis=0)
        inv_err = np.where(keep, 1.0 / ratio_err, np.nan)
        factor_err = MEDIAN_EFFICIENCY / (np.sqrt(n_used) * np.nanmean(inv_err, axis=0))
        chi2_nu = np.nansum(((kept - factor) * inv_err) ** 2, axis=0) / np.maximum(n_used - 1, 1)
        factor_err *= np.sqrt(np.fmax(chi2_nu, 1.0))
    bad = n_used < min_references
    factor[bad] = np.nan
    factor_err[bad] = np.nan
    if single:
        return EpochCorrections(factor[:1], factor_err[:1], n_used[:1])
    return EpochCorrections(factor, factor_err, n_used)


def apply_correction(
    flux: np.ndarray, flux_err: np.ndarray, factor: np.ndarray, factor_err: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Normalise fluxes by their epoch's factor, propagating both errors.

    Parameters
    ----------
    flux, flux_err : array_like
        Measured flux density and error, Jy.
    factor, factor_err : array_like
        The epoch's ``C`` and its error (broadcast against ``flux``).

    Returns
    -------
    norm_flux, norm_flux_err : numpy.ndarray
        ``F / C`` and ``sqrt(sigma_F^2 / C^2 + F^2 sigma_C^2 / C^4)``, Jy.
    """
    flux, flux_err = np.asarray(flux, float), np.asarray(flux_err, float)
    factor, factor_err = np.asarray(factor, float), np.asarray(factor_err, float)
    norm = flux / factor
    norm_err = np.sqrt((flux_err / factor) ** 2 + (flux * factor_err / factor**2) ** 2)
    return norm, norm_err
