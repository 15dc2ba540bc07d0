"""The simulator's primary beam, which need not be the pipeline's.

The pipeline corrects its images with an Airy pattern
(:mod:`dsa110_contimg.telescope.beam`); a real dish is not uniformly lit, its
beam is a little wider, elliptical and pointed a little off. This module
computes the beam the simulated sky is seen through, from
:class:`~dsa110_contimg.simulate.config.BeamParams`, with none of the
pipeline's beam code, so a test can measure the pipeline's error.

Shape. With ``x = pi D rho f / c`` (``rho`` the sine of the angle from the
beam centre), the power pattern is ``F(x)**2`` with the field pattern of a
circular aperture of radius 1 and illumination ``E``::

    F(x) = int_0^1 E(r) J0(x r) r dr / int_0^1 E(r) r dr

``airy``: ``E = 1``, which gives ``2 J1(x) / x`` in closed form.
``tapered``: ``E(r) = 10**(-taper_db r**2 / 20)``, a Gaussian falling to
``taper_db`` below the centre (in power) at the rim. Its integral has no
closed form, so it is done once by Gauss-Legendre quadrature on a grid of
``x`` (which holds at every frequency, ``x`` carrying the frequency) and
interpolated linearly; grid step 0.005, interpolation error below 1e-5.

Geometry. A source's direction cosines ``(l, m)`` in the pointing centre's
frame (``l`` east, ``m`` towards the pole) are measured from the beam centre
``(l0, m0) = sin(offset_arcmin)`` and scaled per axis::

    rho = sqrt(((l - l0) / s_e)**2 + ((m - m0) / s_n)**2)
    s_e = k sqrt(ellipticity),  s_n = k / sqrt(ellipticity)

``k`` stretches the pattern so its FWHM (geometric mean of the axes) is
``fwhm_scale`` times the Airy FWHM (``k = 1`` when ``fwhm_scale`` is None).
For the default beam ``rho = sin(theta)`` exactly, i.e. the pipeline's Airy.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.optimize import brentq
from scipy.special import j0, j1, roots_legendre

from dsa110_contimg.simulate.config import BeamParams
from dsa110_contimg.simulate.geometry import uvw_axes
from dsa110_contimg.telescope import DISH_DIAMETER_M, SPEED_OF_LIGHT_M_S

_GRID_STEP_X = 0.005
_QUADRATURE_NODES = 400  # resolves J0(x r) on [0, 1] for x up to ~600


def airy_field(x: np.ndarray) -> np.ndarray:
    """``2 J1(x) / x``, the field pattern of a uniformly lit disc (1 at x = 0)."""
    x = np.asarray(x, float)
    safe = np.where(x == 0, 1.0, x)
    return np.where(x == 0, 1.0, 2 * j1(safe) / safe)


def tapered_field_direct(x: np.ndarray, taper_db: float) -> np.ndarray:
    """Field pattern of the Gaussian-tapered disc by quadrature at each ``x`` (reference)."""
    nodes, weights = roots_legendre(_QUADRATURE_NODES)
    r, w = 0.5 * (nodes + 1), 0.5 * weights
    illumination = 10 ** (-taper_db * r**2 / 20)
    kernel = illumination * r * w
    x = np.asarray(x, float)
    return (j0(np.multiply.outer(x, r)) @ kernel) / kernel.sum()


@lru_cache(maxsize=8)
def _tapered_table(taper_db: float, x_max: float) -> tuple[np.ndarray, np.ndarray]:
    """Grid of ``x`` and the tapered power pattern on it."""
    x = np.arange(0.0, x_max + 2 * _GRID_STEP_X, _GRID_STEP_X)
    chunks = np.array_split(x, max(1, len(x) // 4096))
    field = np.concatenate([tapered_field_direct(chunk, taper_db) for chunk in chunks])
    return x, field**2


def _half_power_x(power_of_x) -> float:
    """The ``x`` of the main lobe's half-power point."""
    return float(brentq(lambda x: power_of_x(np.array(x)) - 0.5, 0.1, 3.8))


AIRY_HALF_POWER_X = _half_power_x(lambda x: airy_field(x) ** 2)
"""1.6163...: where ``(2 J1(x) / x)**2 = 0.5``."""


@dataclass(frozen=True)
class SimBeam:
    """The primary beam of the simulated dishes (see the module docstring)."""

    params: BeamParams = BeamParams()
    diameter_m: float = DISH_DIAMETER_M

    def shape_power(self, x: np.ndarray) -> np.ndarray:
        """Power pattern of the illumination, unstretched, at ``x`` (1 at 0)."""
        x = np.asarray(x, float)
        if self.params.kind == "airy":
            return airy_field(x) ** 2
        x_max = 64.0 * np.ceil(max(float(np.max(x, initial=0.0)), 1.0) / 64.0)  # few tables
        grid, power = _tapered_table(self.params.taper_db, x_max)
        return np.interp(x, grid, power)

    @property
    def stretch(self) -> float:
        """``k``: the factor that widens the pattern to the requested FWHM."""
        if self.params.fwhm_scale is None:
            return 1.0
        if self.params.kind == "airy":
            return self.params.fwhm_scale
        own = _half_power_x(self.shape_power)
        return self.params.fwhm_scale * AIRY_HALF_POWER_X / own

    def axes_scale(self) -> tuple[float, float]:
        """``(s_e, s_n)``: the stretch along east and along north."""
        root = np.sqrt(self.params.ellipticity)
        return self.stretch * root, self.stretch / root

    def power_lm(self, l: np.ndarray, m: np.ndarray, freq_hz: np.ndarray) -> np.ndarray:
        """Beam power at direction cosines ``(l, m)`` from the pointing centre.

        Parameters
        ----------
        l, m : array_like
            Direction cosines east and north of the pointing centre; broadcast
            against ``freq_hz`` (e.g. shape (N, 1) with (F,) gives (N, F)).
        freq_hz : array_like
            Frequency, Hz.
        """
        east, north = np.radians(np.asarray(self.params.offset_arcmin) / 60.0)
        s_e, s_n = self.axes_scale()
        rho = np.hypot((np.asarray(l) - np.sin(east)) / s_e, (np.asarray(m) - np.sin(north)) / s_n)
        x = np.pi * self.diameter_m * rho * np.asarray(freq_hz) / SPEED_OF_LIGHT_M_S
        return self.shape_power(x)

    def power(self, directions: np.ndarray, centre: np.ndarray, freq_hz: np.ndarray) -> np.ndarray:
        """Beam power towards ENU unit vectors ``directions`` (..., 3), shape (..., F)."""
        lm = directions @ uvw_axes(centre)[:2].T
        return self.power_lm(lm[..., 0, None], lm[..., 1, None], freq_hz)

    def fwhm_deg(self, freq_hz: float) -> tuple[float, float]:
        """Full widths at half power along east and north, degrees."""
        own = AIRY_HALF_POWER_X if self.params.kind == "airy" else _half_power_x(self.shape_power)
        sin_half = own * SPEED_OF_LIGHT_M_S / (np.pi * self.diameter_m * freq_hz)
        return tuple(
            float(np.degrees(2 * np.arcsin(min(sin_half * s, 1.0)))) for s in self.axes_scale()
        )

    def record(self) -> dict:
        """What the truth file says of the beam (JSON-ready)."""
        fwhm_e, fwhm_n = self.fwhm_deg(1.4e9)
        return {
            **self.params.model_dump(),
            "diameter_m": self.diameter_m,
            "stretch": self.stretch,
            "fwhm_east_deg_1p4ghz": fwhm_e,
            "fwhm_north_deg_1p4ghz": fwhm_n,
            "definition": "dsa110_contimg.simulate.beam.SimBeam: power at direction cosines "
            "(l east, m north) of the pointing centre; SimBeam(BeamParams(**params)) rebuilds it",
        }
