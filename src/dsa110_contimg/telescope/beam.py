"""The DSA-110 primary beam: an Airy pattern of a uniformly lit 4.65 m dish.

Power response ``A(theta) = (2 J1(x) / x)**2`` with
``x = pi D sin(theta) / lambda``. Its half-power full width is about
2.71 deg at 1405 MHz (2.90 deg at 1311 MHz, 2.54 deg at 1499 MHz).

The dishes never track (meridian drift scan), so the pointing centre is the
meridian at the strip's declination at each instant; callers supply it.

:class:`PrimaryBeamModel` is the beam the pipeline uses: the Airy
(:data:`AIRY`, the default), a wider or narrower Airy, or a profile measured
on the sky (:mod:`dsa110_contimg.qa.beam_profile`) and registered in the
products DB. Calibration predicts its sky model with it and imaging corrects
with it, so both see the same beam.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import j1, jn_zeros

from dsa110_contimg.sky import angular_separation

from .constants import DISH_DIAMETER_M

SPEED_OF_LIGHT_M_S = 299_792_458.0
"""Speed of light in vacuum, m/s (exact by the SI definition)."""

AIRY_FIRST_NULL_X = float(jn_zeros(1, 1)[0])
"""First zero of J1 (3.8317...): the Airy pattern's first null in ``x``."""

REFERENCE_FREQ_HZ = 1.405e9
"""Frequency at which a measured beam profile's radii are given (band centre), Hz."""

_BISECTION_STEPS = 60  # halves [0, first null] to ~3e-18 in x


def _airy_x(theta_rad: ArrayLike, freq_hz: ArrayLike, diameter_m: float) -> np.ndarray:
    """Dimensionless Airy argument ``pi D sin(theta) / lambda``."""
    wavelength_m = SPEED_OF_LIGHT_M_S / np.asarray(freq_hz, float)
    return np.pi * diameter_m * np.sin(np.asarray(theta_rad, float)) / wavelength_m


def _airy_power_of_x(x: np.ndarray) -> np.ndarray:
    """``(2 J1(x) / x)**2``, equal to 1 at ``x = 0``."""
    x = np.asarray(x, float)
    nonzero = x != 0.0
    safe_x = np.where(nonzero, x, 1.0)
    return np.where(nonzero, (2.0 * j1(safe_x) / safe_x) ** 2, 1.0)


def _airy_x_for_level(level: ArrayLike) -> np.ndarray:
    """Main-lobe ``x`` at which the Airy power equals ``level`` (vectorised bisection)."""
    level = np.asarray(level, float)
    if np.any((level < 0.0) | (level > 1.0)) or np.any(np.isnan(level)):
        raise ValueError(f"beam level must lie in [0, 1], got {level}")
    low = np.zeros_like(level)
    high = np.full_like(level, AIRY_FIRST_NULL_X)
    for _ in range(_BISECTION_STEPS):  # the power falls monotonically on [0, first null]
        mid = 0.5 * (low + high)
        above = _airy_power_of_x(mid) > level
        low = np.where(above, mid, low)
        high = np.where(above, high, mid)
    return 0.5 * (low + high)


def airy_power(
    theta_rad: ArrayLike, freq_hz: ArrayLike, diameter_m: float = DISH_DIAMETER_M
) -> np.ndarray:
    """Return the Airy primary-beam power at an angle from the pointing centre.

    Parameters
    ----------
    theta_rad : float or array_like
        Angular distance from the pointing centre, radians.
    freq_hz : float or array_like
        Observing frequency, Hz; broadcast against ``theta_rad``.
    diameter_m : float
        Dish diameter, metres (default 4.65).

    Returns
    -------
    numpy.ndarray
        Power relative to the beam centre (1 at ``theta = 0``), shape of
        ``theta_rad`` and ``freq_hz`` broadcast together.
    """
    return _airy_power_of_x(_airy_x(theta_rad, freq_hz, diameter_m))


def beam_offset_for_level(
    level: ArrayLike, freq_hz: ArrayLike, diameter_m: float = DISH_DIAMETER_M
) -> np.ndarray:
    """Return the angle, within the main lobe, where the beam power falls to ``level``.

    Useful to blank mosaic tiles (e.g. ``level=0.2``) or size image cut-outs.

    Parameters
    ----------
    level : float or array_like
        Power relative to the beam centre, in [0, 1]: 1 gives 0, 0.5 the
        half width at half maximum, 0 the first null.
    freq_hz : float or array_like
        Observing frequency, Hz; broadcast against ``level``.
    diameter_m : float
        Dish diameter, metres (default 4.65).

    Returns
    -------
    numpy.ndarray
        Angular distance from the pointing centre, radians; pi/2 where the
        main lobe would reach beyond the horizon.

    Raises
    ------
    ValueError
        If a level lies outside [0, 1].
    """
    wavelength_m = SPEED_OF_LIGHT_M_S / np.asarray(freq_hz, float)
    sin_theta = _airy_x_for_level(level) * wavelength_m / (np.pi * diameter_m)
    return np.arcsin(np.minimum(sin_theta, 1.0))


def beam_fwhm_deg(freq_hz: ArrayLike, diameter_m: float = DISH_DIAMETER_M) -> np.ndarray:
    """Return the full width at half power of the primary beam.

    Parameters
    ----------
    freq_hz : float or array_like
        Observing frequency, Hz.
    diameter_m : float
        Dish diameter, metres (default 4.65).

    Returns
    -------
    numpy.ndarray
        Full width at half maximum, degrees (about 2.71 at 1405 MHz).
    """
    return np.degrees(2.0 * beam_offset_for_level(0.5, freq_hz, diameter_m))


def primary_beam(
    ra_rad: ArrayLike,
    dec_rad: ArrayLike,
    pointing_ra_rad: ArrayLike,
    pointing_dec_rad: ArrayLike,
    freq_hz: ArrayLike,
    diameter_m: float = DISH_DIAMETER_M,
) -> np.ndarray:
    """Return the primary-beam power towards sky positions.

    Parameters
    ----------
    ra_rad, dec_rad : float or array_like
        Directions of interest, radians.
    pointing_ra_rad, pointing_dec_rad : float or array_like
        Pointing centre, radians, in the frame of ``ra_rad, dec_rad`` (for
        a drift scan and ICRS positions: :func:`.pointing.drift_pointing_icrs`,
        not the local sidereal time, which is an RA of date).
    freq_hz : float or array_like
        Observing frequency, Hz. All inputs broadcast together under numpy's
        rules; e.g. give positions shape (N, 1) and frequencies (F,) for an
        (N, F) result.
    diameter_m : float
        Dish diameter, metres (default 4.65).

    Returns
    -------
    numpy.ndarray
        Power relative to the beam centre, in [0, 1].
    """
    offset_rad = angular_separation(pointing_ra_rad, pointing_dec_rad, ra_rad, dec_rad)
    return airy_power(offset_rad, freq_hz, diameter_m)


@dataclass(frozen=True)
class PrimaryBeamModel:
    """A primary-beam model: the power at an offset from the pointing.

    Attributes
    ----------
    kind : str
        ``airy`` (the Airy power, width times ``fwhm_scale``) or ``measured``
        (``gains`` at ``radii_deg``, linear interpolation; radii scale as
        ``ref_freq_hz / freq``; the scaled Airy beyond the last radius).
    fwhm_scale : float
        FWHM relative to the pipeline's Airy (4.65 m uniformly lit dish).
    radii_deg, gains : tuple of float
        A measured radial profile at ``ref_freq_hz`` (empty for ``airy``).
    ref_freq_hz : float
        Frequency of ``radii_deg``, Hz.
    model_id, version : int or None
        The registered row (``beam_models``), None for the built-in Airy.
    """

    kind: str = "airy"
    fwhm_scale: float = 1.0
    radii_deg: tuple[float, ...] = ()
    gains: tuple[float, ...] = ()
    ref_freq_hz: float = REFERENCE_FREQ_HZ
    model_id: int | None = None
    version: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("airy", "measured"):
            raise ValueError(f"beam model kind must be 'airy' or 'measured', got {self.kind!r}")
        if not self.fwhm_scale > 0:
            raise ValueError(f"fwhm_scale must be positive, got {self.fwhm_scale}")
        if self.kind == "measured" and (
            len(self.radii_deg) < 2 or len(self.radii_deg) != len(self.gains)
        ):
            raise ValueError("a measured beam model needs as many gains as radii (at least 2)")

    def gain(self, offset_rad: ArrayLike, freq_hz: ArrayLike) -> np.ndarray:
        """Power relative to the beam centre at angular offsets (radians), broadcast with freq."""
        offset = np.asarray(offset_rad, float)
        airy = airy_power(offset / self.fwhm_scale, freq_hz)
        if self.kind == "airy":
            return airy
        radius = np.degrees(offset) * np.asarray(freq_hz, float) / self.ref_freq_hz
        table = np.interp(radius, self.radii_deg, self.gains)
        return np.where(radius <= self.radii_deg[-1], table, airy)

    def describe(self) -> str:
        """A one-line name for headers and logs."""
        if self.model_id is not None:
            which = f"v{self.version} (id {self.model_id})"
        else:
            which = "built-in" if self == AIRY else "not registered"
        return f"{self.kind} x{self.fwhm_scale:.4f} {which}"

    @classmethod
    def from_record(cls, row: Any) -> PrimaryBeamModel:
        """The model of a ``beam_models`` row (an ORM object or a mapping)."""
        get = row.get if isinstance(row, Mapping) else lambda k: getattr(row, k)
        profile = get("profile") or {}
        return cls(
            kind=str(get("kind")),
            fwhm_scale=float(get("fwhm_scale")),
            radii_deg=tuple(profile.get("radii_deg", ())) if get("kind") == "measured" else (),
            gains=tuple(profile.get("gains", ())) if get("kind") == "measured" else (),
            ref_freq_hz=float(profile.get("ref_freq_hz", REFERENCE_FREQ_HZ)),
            model_id=get("id"),
            version=get("version"),
        )


AIRY = PrimaryBeamModel()
"""The pipeline's default beam: the Airy pattern of the 4.65 m dish."""
