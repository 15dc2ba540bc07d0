"""The simulator's truth for the science benchmarks: true fluxes and the true beam.

Used by ``beam_acceptance.py`` and ``unclean_flux.py`` to judge the products
DB against ``truth.json`` rather than against the catalog the pipeline
measured with. Offsets are taken with astropy's offset frames and the beam
with the simulator's own :class:`~dsa110_contimg.simulate.beam.SimBeam`, not
with the pipeline's beam code under test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

from dsa110_contimg.simulate.beam import SimBeam
from dsa110_contimg.simulate.config import BeamParams

SIDEREAL_DEG_S = 360.0 / 86164.0905
DRIFT_STEPS = 13
MATCH_ARCSEC = 5.0


def direction_cosines(ra, dec, centre_ra, centre_dec) -> tuple[np.ndarray, np.ndarray]:
    """``(l, m)``: east and north direction cosines of positions about a centre (degrees in)."""
    centre = SkyCoord(np.asarray(centre_ra) * u.deg, np.asarray(centre_dec) * u.deg)
    off = SkyCoord(np.asarray(ra) * u.deg, np.asarray(dec) * u.deg).transform_to(
        centre.skyoffset_frame()
    )
    lon, lat = off.lon.rad, off.lat.rad
    return np.cos(lat) * np.sin(lon), np.sin(lat)


@dataclass
class SimTruth:
    """Sources and beam of a simulated data set."""

    ra_deg: np.ndarray
    dec_deg: np.ndarray
    flux_1p4_jy: np.ndarray
    spectral_index: np.ndarray
    beam: SimBeam

    @classmethod
    def load(cls, path: Path) -> SimTruth:
        truth = json.loads(Path(path).read_text())
        src = truth["sources"]
        return cls(
            np.array(src["ra_deg"]),
            np.array(src["dec_deg"]),
            np.array(src["flux_1p4_jy"]),
            np.array(src["spectral_index"]),
            SimBeam(BeamParams(**truth["config"]["beam"])),
        )

    def match(self, ra, dec) -> tuple[np.ndarray, np.ndarray]:
        """Index of the true source at each position, and whether it lies within 5"."""
        found = SkyCoord(np.asarray(ra) * u.deg, np.asarray(dec) * u.deg)
        true = SkyCoord(self.ra_deg * u.deg, self.dec_deg * u.deg)
        k, sep, _ = found.match_to_catalog_sky(true)
        return np.asarray(k), sep.arcsec < MATCH_ARCSEC

    def flux_at(self, k: np.ndarray, freq_hz) -> np.ndarray:
        """True flux of sources ``k`` at ``freq_hz``, Jy."""
        return self.flux_1p4_jy[k] * (np.asarray(freq_hz) / 1.4e9) ** self.spectral_index[k]

    def drift_gain(self, ra, dec, centre_ra, centre_dec, freq_hz, duration_s) -> np.ndarray:
        """The true beam at positions, averaged along each image's pointing track.

        ``centre`` is the pointing at mid time; it moves east at the sidereal
        rate over ``duration_s``.
        """
        frac = (np.arange(DRIFT_STEPS) + 0.5) / DRIFT_STEPS - 0.5
        total = np.zeros(np.shape(ra))
        for f in frac:
            track_ra = np.asarray(centre_ra) + SIDEREAL_DEG_S * np.asarray(duration_s) * f
            l, m = direction_cosines(ra, dec, track_ra, centre_dec)
            total += self.beam.power_lm(l, m, np.asarray(freq_hz))
        return total / DRIFT_STEPS


def radius_deg(ra, dec, centre_ra, centre_dec) -> np.ndarray:
    """Angular distance from the centre, degrees."""
    a = SkyCoord(np.asarray(ra) * u.deg, np.asarray(dec) * u.deg)
    b = SkyCoord(np.asarray(centre_ra) * u.deg, np.asarray(centre_dec) * u.deg)
    return a.separation(b).deg
