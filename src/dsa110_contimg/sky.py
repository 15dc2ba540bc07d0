"""Geometry on the celestial sphere: the one great-circle distance of the package.

Every angular distance (cone searches, catalog matches, primary-beam
offsets) is computed here, by Vincenty's formula: ``arctan2`` of the chord's
two components, accurate at all separations, from sub-milliarcsecond to
antipodal and at the poles (the haversine loses digits near 180 deg, the
cosine rule below ~1 arcsec).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def angular_separation(
    lon1_rad: ArrayLike, lat1_rad: ArrayLike, lon2_rad: ArrayLike, lat2_rad: ArrayLike
) -> np.ndarray:
    """Great-circle distance between two directions (Vincenty's formula), radians.

    Parameters
    ----------
    lon1_rad, lat1_rad : float or array_like
        First direction (e.g. RA, Dec), radians.
    lon2_rad, lat2_rad : float or array_like
        Second direction, radians; everything broadcasts together.

    Returns
    -------
    numpy.ndarray
        Separation in [0, pi], radians.
    """
    dlon = np.asarray(lon2_rad, float) - np.asarray(lon1_rad, float)
    sin1, cos1 = np.sin(lat1_rad), np.cos(lat1_rad)
    sin2, cos2 = np.sin(lat2_rad), np.cos(lat2_rad)
    num1 = cos2 * np.sin(dlon)
    num2 = cos1 * sin2 - sin1 * cos2 * np.cos(dlon)
    denominator = sin1 * sin2 + cos1 * cos2 * np.cos(dlon)
    return np.arctan2(np.hypot(num1, num2), denominator)


def separation_deg(
    ra1_deg: ArrayLike, dec1_deg: ArrayLike, ra2_deg: ArrayLike, dec2_deg: ArrayLike
) -> np.ndarray:
    """Great-circle distance between (ra1, dec1) and (ra2, dec2), all in degrees.

    :func:`angular_separation` in degrees; the arguments broadcast together.
    """
    r1, d1, r2, d2 = (
        np.radians(np.asarray(a, float)) for a in (ra1_deg, dec1_deg, ra2_deg, dec2_deg)
    )
    return np.degrees(angular_separation(r1, d1, r2, d2))
