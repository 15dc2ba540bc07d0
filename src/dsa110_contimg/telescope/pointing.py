"""Where the dishes point: the meridian at the strip's declination, as ICRS positions.

DSA-110's dishes never track. During a group the beam centre is hour angle
0 at a fixed declination *of date* (the file headers' ``phase_center_dec``
at the mid time), so in ICRS, where catalog and calibrator positions live,
it moves along the strip at the sidereal rate. The local sidereal time is an
RA *of date*: pairing it with a J2000 position would misplace the beam by
the precession since 2000 (about 0.3 deg in RA and 0.1 deg in Dec in 2026,
a few per cent of beam power a degree from the centre), so every beam
computation goes through this transformation instead.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.coordinates import HADec, SkyCoord
from astropy.time import Time

from .constants import site_location


def drift_pointing_icrs(
    times_mjd: np.ndarray, dec_of_date_deg: float
) -> tuple[np.ndarray, np.ndarray]:
    """ICRS RA and Dec (radians) of the beam centre at each time (MJD, UTC).

    Repeated times are transformed once (rows of one integration share them).
    """
    times_mjd = np.asarray(times_mjd, float)
    unique, inverse = np.unique(times_mjd, return_inverse=True)
    track = SkyCoord(
        ha=np.zeros(unique.size) * u.hourangle,
        dec=np.full(unique.size, dec_of_date_deg) * u.deg,
        frame=HADec(obstime=Time(unique, format="mjd", scale="utc"), location=site_location()),
    ).icrs
    return track.ra.rad[inverse].reshape(times_mjd.shape), track.dec.rad[inverse].reshape(
        times_mjd.shape
    )
