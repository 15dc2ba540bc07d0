"""The primary beam measured on the sky: forced / catalog flux of steady sources against offset.

A steady catalog source measured on a pb-corrected image comes out at
``catalog x B_true / B_model``: the ratio ``forced / catalog`` is 1 where the
pipeline's beam model is right, and rises outward where the true beam is
wider. Over many images each source lands at many offsets from the pointing,
so the ratios, binned by offset, give the error of the model (``ratio``) and,
times the model that was applied, the beam itself (``gain``).

Conventions. Offsets are measured from the image's pointing centre (the
meridian at the group's mid time, the image centre) as SIN-projection
direction cosines in degrees: ``east_deg``, ``north_deg`` and the angular
distance ``radius_deg``. The E-W (N-S) profile takes the sources within
``strip_deg`` of the N-S (E-W) axis, signed. A bin's value is the median of
its ratios with the standard error of a median, ``1.2533 x 1.4826 MAD /
sqrt(n)``: robust to the few blended or variable sources that pass the flags.

The beam a drift-scan image is corrected with is the time average of the
instantaneous beam along the pointing track (:mod:`dsa110_contimg.imaging.pbcor`);
:func:`drift_gain` takes the same average (the pointing moving east at the
sidereal rate over the image's ``integration_s``), so a model fitted here is
the instantaneous beam, the one ``pbcor`` needs. Band averaging is left out:
each image's beam is taken at its reference frequency.

Models. :class:`PrimaryBeamModel` is the gain of a model at offsets:
``airy`` with ``fwhm_scale = 1`` is the pipeline's default;
:func:`fit_fwhm_scale` fits the Airy's width to the ratios;
:func:`measured_model` adds a smoothed radial correction to that fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import least_squares

# the models live with the instrument (calibration predicts with them too); named here for QA
from dsa110_contimg.telescope.beam import AIRY as AIRY
from dsa110_contimg.telescope.beam import REFERENCE_FREQ_HZ as REFERENCE_FREQ_HZ
from dsa110_contimg.telescope.beam import PrimaryBeamModel as PrimaryBeamModel
from dsa110_contimg.telescope.beam import beam_fwhm_deg

SIDEREAL_RATE_DEG_S = 360.0 / 86164.0905
"""Rate at which a drift scan's pointing moves in RA, deg/s."""

MEDIAN_SE_FACTOR = 1.2533
"""Standard error of a median per (sigma / sqrt(n)) for Gaussian data (sqrt(pi / 2))."""

MAD_TO_SIGMA = 1.4826

#: A fitted width within this fraction of the applied one has settled (0.3%
#: of the width moves the pb-corrected flux by under 1% where the beam is 0.2).
SETTLED_FRACTION = 0.003

PROFILE_AXES = ("radial", "ew", "ns")

_DRIFT_STEPS = 13  # samples of the pointing track per image (pbcor uses every integration)


# --------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------
def sky_offsets(
    ra_deg: ArrayLike, dec_deg: ArrayLike, centre_ra_deg: ArrayLike, centre_dec_deg: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """East and north direction cosines (as degrees) and angular distance of positions.

    Returns
    -------
    east_deg, north_deg, radius_deg : numpy.ndarray
        ``degrees(l)``, ``degrees(m)`` of the SIN projection about the centre,
        and the great-circle distance, degrees.
    """
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    ra0, dec0 = np.radians(centre_ra_deg), np.radians(centre_dec_deg)
    dra = ra - ra0
    east = np.cos(dec) * np.sin(dra)
    north = np.sin(dec) * np.cos(dec0) - np.cos(dec) * np.sin(dec0) * np.cos(dra)
    cos_r = np.sin(dec) * np.sin(dec0) + np.cos(dec) * np.cos(dec0) * np.cos(dra)
    radius = np.arctan2(np.hypot(east, north), cos_r)
    return np.degrees(east), np.degrees(north), np.degrees(radius)


def drift_gain(
    model: PrimaryBeamModel,
    ra_deg: ArrayLike,
    dec_deg: ArrayLike,
    centre_ra_deg: ArrayLike,
    centre_dec_deg: ArrayLike,
    freq_hz: ArrayLike,
    duration_s: ArrayLike,
    *,
    steps: int = _DRIFT_STEPS,
) -> np.ndarray:
    """The model's power at positions, averaged along a drift scan's pointing track.

    The pointing is ``centre`` at mid time and moves east in RA at the
    sidereal rate for ``duration_s`` (0: the instantaneous beam). All inputs
    broadcast together; returns their shape.
    """
    frac = (np.arange(steps) + 0.5) / steps - 0.5  # centres of equal time slices
    duration = np.asarray(duration_s, float)
    track_ra = np.asarray(centre_ra_deg, float)[..., None] + (
        SIDEREAL_RATE_DEG_S * duration[..., None] * frac
    )
    _, _, radius = sky_offsets(
        np.asarray(ra_deg, float)[..., None],
        np.asarray(dec_deg, float)[..., None],
        track_ra,
        np.asarray(centre_dec_deg, float)[..., None],
    )
    power = model.gain(np.radians(radius), np.asarray(freq_hz, float)[..., None])
    return power.mean(axis=-1)


# --------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class BeamSamples:
    """Forced / catalog flux ratios of steady sources, with where each was in its beam.

    Every array has shape (N,): one entry per measurement.

    Attributes
    ----------
    ratio, ratio_err : numpy.ndarray
        Forced flux over catalog flux, and its error (forced error / catalog).
    ra_deg, dec_deg : numpy.ndarray
        Source positions, degrees.
    centre_ra_deg, centre_dec_deg : numpy.ndarray
        Pointing centre of the image at mid time, degrees.
    freq_hz, duration_s : numpy.ndarray
        Image reference frequency (Hz) and the time span of its data (s).
    applied_gain : numpy.ndarray
        The drift-averaged beam the image was divided by (1 if not corrected).
    image_id : numpy.ndarray
        The image measured (for counting images).
    """

    ratio: np.ndarray
    ratio_err: np.ndarray
    ra_deg: np.ndarray
    dec_deg: np.ndarray
    centre_ra_deg: np.ndarray
    centre_dec_deg: np.ndarray
    freq_hz: np.ndarray
    duration_s: np.ndarray
    applied_gain: np.ndarray
    image_id: np.ndarray

    @property
    def size(self) -> int:
        return int(self.ratio.size)

    def offsets(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(east, north, radius) offsets from the pointing, degrees."""
        return sky_offsets(self.ra_deg, self.dec_deg, self.centre_ra_deg, self.centre_dec_deg)

    def take(self, keep: np.ndarray) -> BeamSamples:
        """The samples where ``keep`` (a boolean mask or indices)."""
        return BeamSamples(**{k: v[keep] for k, v in self.__dict__.items()})

    def gain_of(self, model: PrimaryBeamModel) -> np.ndarray:
        """The drift-averaged power of ``model`` at every sample."""
        return drift_gain(
            model,
            self.ra_deg,
            self.dec_deg,
            self.centre_ra_deg,
            self.centre_dec_deg,
            self.freq_hz,
            self.duration_s,
        )


def samples_from_rows(
    rows: Sequence[Mapping[str, Any]],
    models: Mapping[int, PrimaryBeamModel] | None = None,
) -> BeamSamples:
    """:class:`BeamSamples` from measurement rows (see ``repo.beam_measurements``).

    Each row has ``flux_jy``, ``flux_err_jy``, ``catalog_flux_jy``,
    ``ra_deg``, ``dec_deg``, ``image_ra_deg``, ``image_dec_deg``,
    ``freq_hz``, ``integration_s``, ``pbcor``, ``beam_model_id`` and
    ``image_id``. The beam applied to an image is the registered model of its
    ``beam_model_id`` (from ``models``), else the Airy; 1 if not corrected.
    """
    models = models or {}

    def col(name: str, default: float = np.nan) -> np.ndarray:
        return np.array([default if r[name] is None else r[name] for r in rows], float)

    cat = col("catalog_flux_jy")
    samples = BeamSamples(
        ratio=col("flux_jy") / cat,
        ratio_err=col("flux_err_jy") / cat,
        ra_deg=col("ra_deg"),
        dec_deg=col("dec_deg"),
        centre_ra_deg=col("image_ra_deg"),
        centre_dec_deg=col("image_dec_deg"),
        freq_hz=col("freq_hz", REFERENCE_FREQ_HZ),
        duration_s=col("integration_s", 0.0),
        applied_gain=np.ones(len(rows)),
        image_id=np.array([r["image_id"] for r in rows], dtype=np.int64),
    )
    if not rows:
        return samples
    applied = np.ones(len(rows))
    pbcor = np.array([bool(r["pbcor"]) for r in rows])
    model_ids = np.array([r["beam_model_id"] or -1 for r in rows])
    for model_id in np.unique(model_ids[pbcor]):
        model = models.get(int(model_id), AIRY) if model_id >= 0 else AIRY
        sel = pbcor & (model_ids == model_id)
        applied[sel] = samples.take(sel).gain_of(model)
    samples = BeamSamples(**{**samples.__dict__, "applied_gain": applied})
    good = np.isfinite(samples.ratio) & np.isfinite(samples.ratio_err) & (cat > 0)
    return samples.take(good)


# --------------------------------------------------------------------------
# Binned profiles
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class ProfileBin:
    """One bin of a beam profile.

    Attributes
    ----------
    lo_deg, hi_deg, offset_deg : float
        Bin edges and the median offset of its samples, degrees (signed for
        ``ew``: east positive, ``ns``: north positive).
    n : int
        Measurements in the bin.
    ratio, ratio_err : float
        Median forced / catalog and its standard error.
    model_gain : float
        Median of the beam the images were corrected with (the model in use).
    gain, gain_err : float
        The measured beam, median of ``ratio x model_gain``, and its error.
    """

    lo_deg: float
    hi_deg: float
    offset_deg: float
    n: int
    ratio: float
    ratio_err: float
    model_gain: float
    gain: float
    gain_err: float


@dataclass(frozen=True)
class BeamProfile:
    """The radial, E-W and N-S profiles of a set of measurements."""

    n_measurements: int
    n_images: int
    strip_deg: float
    profiles: dict[str, list[ProfileBin]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def median_and_error(values: np.ndarray) -> tuple[float, float]:
    """Median and its standard error (from the MAD), NaN error for fewer than 2 values."""
    values = np.asarray(values, float)
    med = float(np.median(values))
    if values.size < 2:
        return med, float("nan")
    sigma = MAD_TO_SIGMA * float(np.median(np.abs(values - med)))
    return med, MEDIAN_SE_FACTOR * sigma / np.sqrt(values.size)


def binned(
    offset_deg: np.ndarray,
    ratio: np.ndarray,
    model_gain: np.ndarray,
    edges: np.ndarray,
    *,
    min_count: int = 5,
) -> list[ProfileBin]:
    """Bins of ``ratio`` (and ``ratio x model_gain``) by ``offset_deg``; bins under ``min_count`` left out."""
    which = np.digitize(offset_deg, edges) - 1
    out = []
    for i in range(edges.size - 1):
        sel = which == i
        n = int(sel.sum())
        if n < min_count:
            continue
        r, r_err = median_and_error(ratio[sel])
        g, g_err = median_and_error(ratio[sel] * model_gain[sel])
        out.append(
            ProfileBin(
                lo_deg=float(edges[i]),
                hi_deg=float(edges[i + 1]),
                offset_deg=float(np.median(offset_deg[sel])),
                n=n,
                ratio=r,
                ratio_err=r_err,
                model_gain=float(np.median(model_gain[sel])),
                gain=g,
                gain_err=g_err,
            )
        )
    return out


def default_radius_deg(freq_hz: float = REFERENCE_FREQ_HZ, level: float = 0.1) -> float:
    """Radius out to which profiles are binned: where the Airy falls to ``level`` (~2.3 deg)."""
    from dsa110_contimg.telescope.beam import beam_offset_for_level

    return float(np.degrees(beam_offset_for_level(level, freq_hz)))


def beam_profile(
    samples: BeamSamples,
    *,
    n_bins: int = 12,
    max_radius_deg: float | None = None,
    strip_deg: float | None = None,
    min_count: int = 5,
) -> BeamProfile:
    """Radial, E-W and N-S profiles of forced / catalog flux.

    Parameters
    ----------
    samples
        The measurements.
    n_bins
        Bins of the radial profile out to ``max_radius_deg``; the E-W and
        N-S profiles have ``2 n_bins`` bins from ``-max_radius_deg``.
    max_radius_deg
        Outermost offset binned, degrees (default: where the Airy is 0.1).
    strip_deg
        Half width of the strips of the E-W and N-S profiles, degrees
        (default: a quarter of the Airy FWHM, about 0.68 deg).
    min_count
        Fewest measurements a bin needs to be reported.
    """
    radius_max = max_radius_deg or default_radius_deg()
    strip = strip_deg or float(beam_fwhm_deg(REFERENCE_FREQ_HZ)) / 4
    east, north, radius = samples.offsets()
    ratio, model = samples.ratio, samples.applied_gain
    radial_edges = np.linspace(0.0, radius_max, n_bins + 1)
    signed_edges = np.linspace(-radius_max, radius_max, 2 * n_bins + 1)
    on_ew, on_ns = np.abs(north) <= strip, np.abs(east) <= strip
    profiles = {
        "radial": binned(radius, ratio, model, radial_edges, min_count=min_count),
        "ew": binned(east[on_ew], ratio[on_ew], model[on_ew], signed_edges, min_count=min_count),
        "ns": binned(north[on_ns], ratio[on_ns], model[on_ns], signed_edges, min_count=min_count),
    }
    return BeamProfile(
        n_measurements=samples.size,
        n_images=int(np.unique(samples.image_id).size),
        strip_deg=strip,
        profiles=profiles,
    )


# --------------------------------------------------------------------------
# Fits
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class BeamFit:
    """A fitted beam model and how well it fits.

    Attributes
    ----------
    model : PrimaryBeamModel
        The fitted model (not yet registered: no id).
    fwhm_scale, fwhm_scale_err : float
        The fitted width relative to the Airy, and its 1-sigma error.
    flux_scale : float
        The fitted overall ratio at the beam centre (the catalog's and the
        calibration's flux scale, not the beam's: the beam is 1 there).
    n_used : int
        Measurements used (those where the applied beam was above ``min_gain``).
    rms_before, rms_after : float
        Robust scatter of the (corrected) ratio about 1, before and after.
    median_before, median_after : float
        Median of the outermost radial bins' ratio (model error at the edge).
    applied_fwhm_scale : float
        The Airy width that best matches the beam the measured images were
        divided by (1 for the Airy, the model's width for an ``airy`` model).
    """

    model: PrimaryBeamModel
    fwhm_scale: float
    fwhm_scale_err: float
    flux_scale: float
    n_used: int
    rms_before: float
    rms_after: float
    median_before: float
    median_after: float
    applied_fwhm_scale: float = float("nan")

    def settled(self, tolerance: float = SETTLED_FRACTION) -> bool:
        """Whether the fit agrees with the beam the images were corrected with.

        The first fit on images made with a wrong beam is pulled toward it:
        their calibration predicted the field with that beam, which shapes
        the off-axis fluxes. Reprocessed from ``calibrate`` with the new
        model, the images give a fit that moves much less; the width has
        settled when it differs from the applied one by at most
        ``tolerance`` (fractional) or three standard errors.
        """
        step = abs(self.fwhm_scale - self.applied_fwhm_scale)
        return bool(step <= max(tolerance * self.fwhm_scale, 3 * self.fwhm_scale_err))

    def profile_record(self) -> dict[str, Any]:
        """The ``beam_models.profile`` JSON: the table and the fit's numbers (NaN as null)."""

        def finite(value: float) -> float | None:
            return float(value) if np.isfinite(value) else None

        return {
            "radii_deg": list(self.model.radii_deg),
            "gains": list(self.model.gains),
            "ref_freq_hz": self.model.ref_freq_hz,
            "fit": {
                "fwhm_scale_err": finite(self.fwhm_scale_err),
                "flux_scale": finite(self.flux_scale),
                "n_used": self.n_used,
                "rms_before": finite(self.rms_before),
                "rms_after": finite(self.rms_after),
                "edge_ratio_before": finite(self.median_before),
                "edge_ratio_after": finite(self.median_after),
                "applied_fwhm_scale": finite(self.applied_fwhm_scale),
            },
        }


def applied_fwhm_scale(samples: BeamSamples, bounds: tuple[float, float] = (0.6, 1.6)) -> float:
    """The Airy width whose drift-averaged gains best match the gains the images applied."""
    corrected = samples.applied_gain < 1.0
    if not corrected.any():
        return float("nan")
    use = samples.take(corrected)

    def residual(p: np.ndarray) -> np.ndarray:
        return use.gain_of(PrimaryBeamModel("airy", float(p[0]))) - use.applied_gain

    return float(least_squares(residual, x0=[1.0], bounds=([bounds[0]], [bounds[1]])).x[0])


def corrected_ratio(samples: BeamSamples, model: PrimaryBeamModel) -> np.ndarray:
    """The ratios the images would give if corrected with ``model`` instead."""
    return samples.ratio * samples.applied_gain / samples.gain_of(model)


def _robust_rms(values: np.ndarray) -> float:
    return float(MAD_TO_SIGMA * np.median(np.abs(values - np.median(values))))


def _edge_ratio(samples: BeamSamples, ratio: np.ndarray) -> float:
    """Median ratio where the applied beam is 0.2-0.4: the model's error at the edge."""
    edge = (samples.applied_gain >= 0.2) & (samples.applied_gain < 0.4)
    return float(np.median(ratio[edge])) if edge.any() else float("nan")


def fit_fwhm_scale(
    samples: BeamSamples,
    *,
    min_gain: float = 0.2,
    bounds: tuple[float, float] = (0.6, 1.6),
) -> BeamFit:
    """Fit the Airy's width to the ratios: ``ratio ~ a B_airy(theta / s) / B_applied``.

    A robust (soft-L1) least-squares fit of the width ``s`` and an overall
    flux scale ``a``, each ratio weighted by its error, over the measurements
    where the applied beam is at least ``min_gain`` (below it the images are
    blanked). ``a`` takes up what is not the beam's (a catalog's flux scale, a
    calibration's): the beam is 1 at its centre by definition, and without
    ``a`` a 2% flux-scale offset pulls ``s`` by about as much. The error of
    ``s`` is the fit's, scaled by the reduced chi-square.

    Raises
    ------
    ValueError
        If fewer than 10 measurements are usable.
    """
    use = samples.take((samples.applied_gain >= min_gain) & (samples.ratio_err > 0))
    if use.size < 10:
        raise ValueError(f"only {use.size} measurements inside the beam's {min_gain} level")
    # errors floored at 1%: a few very bright sources must not carry the whole fit
    sigma = np.maximum(use.ratio_err, 0.01 * np.abs(use.ratio))
    target = use.ratio * use.applied_gain

    def residual(p: np.ndarray) -> np.ndarray:
        model = PrimaryBeamModel("airy", float(p[0]))
        return (target - p[1] * use.gain_of(model)) / sigma / use.applied_gain

    f_scale = 3.0  # soft-L1 turns linear beyond 3 sigma
    sol = least_squares(
        residual,
        x0=[1.0, 1.0],
        bounds=([bounds[0], 0.5], [bounds[1], 2.0]),
        loss="soft_l1",
        f_scale=f_scale,
    )
    scale, amplitude = float(sol.x[0]), float(sol.x[1])
    dof = max(use.size - 2, 1)
    chi2_nu = float(np.sum(sol.fun**2)) / dof
    try:
        cov = np.linalg.inv(sol.jac.T @ sol.jac) * max(chi2_nu, 1e-12)
        scale_err = float(np.sqrt(cov[0, 0]))
    except np.linalg.LinAlgError:
        scale_err = float("nan")
    model = PrimaryBeamModel("airy", scale)
    after = corrected_ratio(use, model)
    return BeamFit(
        model=model,
        fwhm_scale=scale,
        fwhm_scale_err=scale_err,
        flux_scale=amplitude,
        n_used=use.size,
        rms_before=_robust_rms(use.ratio),
        rms_after=_robust_rms(after),
        median_before=_edge_ratio(use, use.ratio),
        median_after=_edge_ratio(use, after),
        applied_fwhm_scale=applied_fwhm_scale(use, bounds),
    )


def measured_model(
    samples: BeamSamples,
    fit: BeamFit,
    *,
    n_bins: int = 12,
    min_gain: float = 0.2,
    min_count: int = 20,
) -> PrimaryBeamModel:
    """A ``measured`` model: the fitted Airy times a smoothed radial correction.

    The correction is the median of ``ratio x applied / fitted`` in radial
    bins (at least ``min_count`` measurements), smoothed over three bins and
    pinned to 1 at the centre; radii are scaled to ``REFERENCE_FREQ_HZ``.
    """
    use = samples.take(samples.applied_gain >= min_gain)
    resid = corrected_ratio(use, fit.model)
    _, _, radius = use.offsets()
    radius_ref = radius * use.freq_hz / REFERENCE_FREQ_HZ
    edges = np.linspace(0.0, float(radius_ref.max()), n_bins + 1)
    bins = binned(radius_ref, resid, np.ones_like(resid), edges, min_count=min_count)
    if len(bins) < 2:
        raise ValueError("too few measurements for a measured profile; fit the Airy's width")
    radii = np.array([b.offset_deg for b in bins])
    corr = np.array([b.ratio for b in bins])
    smooth = np.convolve(np.pad(corr, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    radii = np.concatenate([[0.0], radii])
    smooth = np.concatenate([[1.0], smooth / smooth[0]])
    base = fit.model.gain(np.radians(radii), REFERENCE_FREQ_HZ)
    return PrimaryBeamModel(
        "measured",
        fit.fwhm_scale,
        radii_deg=tuple(float(r) for r in radii),
        gains=tuple(float(g) for g in np.clip(base * smooth, 0.0, 1.0)),
    )


# --------------------------------------------------------------------------
# From the products DB (through the repositories; used by the CLI and the API)
# --------------------------------------------------------------------------
def measured_samples(
    session: Any,
    *,
    since_mjd: float | None = None,
    until_mjd: float | None = None,
    min_snr: float = 10.0,
) -> BeamSamples:
    """The :class:`BeamSamples` of the products DB (see ``repo.beam_measurements``)."""
    from dsa110_contimg.products import repositories as repo

    rows = repo.beam_measurements(
        session, since_mjd=since_mjd, until_mjd=until_mjd, min_snr=min_snr
    )
    records = repo.beam_models_by_id(session, (r["beam_model_id"] for r in rows))
    models = {i: PrimaryBeamModel.from_record(rec) for i, rec in records.items()}
    return samples_from_rows(rows, models)
