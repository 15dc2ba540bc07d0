"""Where things are on the sky and on the ground during a simulated group.

All directions are unit vectors in the array's local East-North-Up frame
(metres for antenna positions), computed with astropy (no refraction) so that
sources and the fringe-stop centre live in one consistent frame:

* sources: ICRS -> AltAz at each integration;
* the fringe-stop and pointing centre: hour angle 0 at the pointing
  declination of date (astropy's ``HADec`` frame) -> AltAz.

``uvw`` follows pyuvdata's convention: the position of antenna 2 minus that of
antenna 1, projected on the (u, v, w) axes of the phase centre (u east, v
towards the celestial pole, w towards the centre).
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.coordinates import AltAz, HADec, SkyCoord
from astropy.time import Time

from dsa110_contimg.telescope import SITE_LATITUDE_RAD, site_location

SIDEREAL_DAY_S = 86164.0905


def _altaz_to_enu(alt_rad: np.ndarray, az_rad: np.ndarray) -> np.ndarray:
    cos_alt = np.cos(alt_rad)
    return np.stack([cos_alt * np.sin(az_rad), cos_alt * np.cos(az_rad), np.sin(alt_rad)], -1)


def _altaz_frame(times: Time) -> AltAz:
    return AltAz(obstime=times, location=site_location(), pressure=0 * u.hPa)


def source_directions(ra_deg: np.ndarray, dec_deg: np.ndarray, times: Time) -> np.ndarray:
    """ENU unit vectors of ICRS sources at each time, shape (Nt, Ns, 3)."""
    coords = SkyCoord(ra=np.atleast_1d(ra_deg) * u.deg, dec=np.atleast_1d(dec_deg) * u.deg)
    altaz = coords[None, :].transform_to(_altaz_frame(times[:, None]))
    return _altaz_to_enu(altaz.alt.rad, altaz.az.rad)


def meridian_directions(dec_of_date_rad: float, times: Time) -> np.ndarray:
    """ENU unit vectors of (hour angle 0, declination of date) at each time, (Nt, 3)."""
    hadec = SkyCoord(
        ha=np.zeros(len(times)) * u.hourangle,
        dec=np.full(len(times), dec_of_date_rad) * u.rad,
        frame=HADec(obstime=times, location=site_location()),
    )
    altaz = hadec.transform_to(_altaz_frame(times))
    return _altaz_to_enu(altaz.alt.rad, altaz.az.rad)


def uvw_axes(centre_enu: np.ndarray, latitude_rad: float = SITE_LATITUDE_RAD) -> np.ndarray:
    """Rows u, v, w (ENU unit vectors) of the frame of a phase centre, shape (3, 3)."""
    w = centre_enu / np.linalg.norm(centre_enu)
    pole = np.array([0.0, np.cos(latitude_rad), np.sin(latitude_rad)])
    east = np.cross(pole, w)
    east /= np.linalg.norm(east)
    return np.stack([east, np.cross(w, east), w])


def baseline_uvw(
    antenna_enu_m: np.ndarray, ant1: np.ndarray, ant2: np.ndarray, centre_enu: np.ndarray
) -> np.ndarray:
    """uvw (m) of baselines ant1-ant2 for one phase centre: x[ant2] - x[ant1] projected."""
    return (antenna_enu_m[ant2] - antenna_enu_m[ant1]) @ uvw_axes(centre_enu).T


def local_sidereal_time_rad(times: Time) -> np.ndarray:
    """Apparent local sidereal time at the site, radians."""
    return times.sidereal_time("apparent", longitude=site_location().lon).rad


def transit_time(ra_deg: float, dec_deg: float, near: Time) -> Time:
    """The time nearest to ``near`` when an ICRS source crosses the meridian."""
    t = near
    for _ in range(4):
        hadec = SkyCoord(ra=ra_deg * u.deg, dec=dec_deg * u.deg).transform_to(
            HADec(obstime=t, location=site_location())
        )
        ha = hadec.ha.wrap_at(180 * u.deg).rad
        t = t - (ha / (2 * np.pi)) * SIDEREAL_DAY_S * u.s
    return t


def dec_of_date(ra_deg: float, dec_deg: float, when: Time) -> float:
    """The apparent (of date) declination of an ICRS direction, radians."""
    hadec = SkyCoord(ra=ra_deg * u.deg, dec=dec_deg * u.deg).transform_to(
        HADec(obstime=when, location=site_location())
    )
    return float(hadec.dec.rad)
