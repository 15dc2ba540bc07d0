"""Read a group of DSA-110 subband files with pyuvdata, as the operating pipeline does.

This is the reference path our own converter is checked and timed against:
each subband is read on its own (the 16 in one call fail pyuvdata's combine
checks on float32 uvw), its uvw cast to float64, the real fringe-stop centre
declared (pyuvdata takes the files as zenith-drift data), and the subbands
concatenated in frequency.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import AltAz, HADec, SkyCoord
from astropy.time import Time
from pyuvdata import UVData

from dsa110_contimg.telescope import site_location


@contextlib.contextmanager
def _expected_warnings() -> Iterator[None]:
    """Silence pyuvdata's complaint that uvw do not fit a zenith phase centre.

    The files say "drift" but their uvw are for the meridian centre: the
    complaint is expected and says nothing new.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The uvw_array does not match")
        yield


def read_subband(path: str | Path) -> UVData:
    """Read one subband file with the flags real DSA-110 files need."""
    uv = UVData()
    with _expected_warnings():
        uv.read(
            str(path),
            file_type="uvh5",
            run_check=False,
            strict_uvw_antpos_check=False,
            check_extra=False,
        )
    uv.uvw_array = uv.uvw_array.astype(np.float64)
    return uv


def declare_meridian_centre(uv: UVData) -> None:
    """Tell pyuvdata the data are fringe-stopped at hour angle 0, the file's declination.

    The centre is a drift-scan centre fixed in alt-az, computed at the middle
    of the data with astropy (no refraction). After this, ``uv.phase()``
    rotates correctly to any sky position.
    """
    dec = float(uv.extra_keywords["phase_center_dec"])
    mid = Time(np.median(uv.time_array), format="jd")
    site = site_location()
    altaz = SkyCoord(
        ha=0 * u.hourangle, dec=dec * u.rad, frame=HADec(obstime=mid, location=site)
    ).transform_to(AltAz(obstime=mid, location=site, pressure=0 * u.hPa))
    cat_id = uv._add_phase_center(
        cat_name="meridian",
        cat_type="driftscan",
        cat_lon=altaz.az.rad,
        cat_lat=altaz.alt.rad,
        cat_frame="altaz",
    )
    uv.phase_center_id_array[:] = cat_id
    uv._clear_unused_phase_centers()
    uv._set_app_coords_helper()


def read_group(paths: Sequence[str | Path]) -> UVData:
    """Read the subband files of one group into one UVData, frequencies ascending."""
    parts = [read_subband(p) for p in paths]
    parts.sort(key=lambda uv: float(np.min(uv.freq_array)))
    with _expected_warnings():
        uv = (
            parts[0].fast_concat(parts[1:], axis="freq", run_check=False)
            if len(parts) > 1
            else parts[0]
        )
        order = np.argsort(uv.freq_array)
        if np.any(order != np.arange(len(order))):
            uv.reorder_freqs(channel_order=order, run_check=False)
        declare_meridian_centre(uv)
    return uv
