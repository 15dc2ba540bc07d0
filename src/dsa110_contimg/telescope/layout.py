"""The DSA-110 array layout, from the surveyed station coordinates.

The array is a T of 102 pads plus 15 outriggers. Every pad's WGS84
latitude, longitude and elevation come from the surveyed coordinates in
``telescope/data/dsa110_stations.csv`` (all 117 pads, as published by the
DSA-110 project; the file's header says where from). They are turned into
a local east-north-up (ENU) frame whose origin is the T-centre
(:data:`~.constants.SITE_LATITUDE_RAD` etc.):

* **East-west arm**, pads DSA-001..051: spaced 5.75 m near the centre but
  not evenly, reaching about +-198 m.
* **North-south arm**, pads DSA-052..102: up to about 440 m north.
* **Outriggers**, pads DSA-103..117: up to 1.84 km north, 1.2 km west and
  0.6 km east; the longest active baseline is about 2.6 km.

Heights: the survey gives elevations (pad 117, inactive, has none); the
"up" coordinate is each pad's elevation minus the median elevation of the
active pads, so the array sits on the T-centre's height and the pads keep
their surveyed relief (a few metres). A rigid offset of the whole array
would change no baseline. Real files carry their own antenna positions:
prefer those whenever a file is at hand.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from .constants import (
    EW_ARM_PADS,
    INACTIVE_PADS,
    N_ANTS_TELESCOPE,
    NS_ARM_PADS,
    SITE_HEIGHT_M,
    SITE_LATITUDE_RAD,
    SITE_LONGITUDE_RAD,
)

WGS84_A_M = 6_378_137.0
"""WGS84 semi-major axis, metres."""

WGS84_F = 1.0 / 298.257223563
"""WGS84 flattening."""

_WGS84_E2 = WGS84_F * (2.0 - WGS84_F)  # first eccentricity squared


# --- Geodesy: closed-form WGS84 conversions -----------------------------------


def geodetic_to_ecef(lat_rad: ArrayLike, lon_rad: ArrayLike, height_m: ArrayLike) -> np.ndarray:
    """Convert WGS84 geodetic coordinates to Earth-centred Earth-fixed ones.

    Parameters
    ----------
    lat_rad, lon_rad : float or array_like
        Geodetic latitude and longitude (east positive), radians.
    height_m : float or array_like
        Height above the WGS84 ellipsoid, metres.

    Returns
    -------
    numpy.ndarray
        Shape (..., 3): ECEF X, Y, Z in metres, broadcasting the inputs.
    """
    lat, lon, h = np.broadcast_arrays(
        np.asarray(lat_rad, float), np.asarray(lon_rad, float), np.asarray(height_m, float)
    )
    n = WGS84_A_M / np.sqrt(1.0 - _WGS84_E2 * np.sin(lat) ** 2)  # prime-vertical radius
    return np.stack(
        [
            (n + h) * np.cos(lat) * np.cos(lon),
            (n + h) * np.cos(lat) * np.sin(lon),
            (n * (1.0 - _WGS84_E2) + h) * np.sin(lat),
        ],
        axis=-1,
    )


def _enu_rotation(lat_rad: float, lon_rad: float) -> np.ndarray:
    """Rows are the east, north and up unit vectors expressed in ECEF."""
    sl, cl = np.sin(lat_rad), np.cos(lat_rad)
    so, co = np.sin(lon_rad), np.cos(lon_rad)
    return np.array(
        [
            [-so, co, 0.0],
            [-sl * co, -sl * so, cl],
            [cl * co, cl * so, sl],
        ]
    )


def enu_to_ecef_offsets(
    enu_m: ArrayLike, lat_rad: float = SITE_LATITUDE_RAD, lon_rad: float = SITE_LONGITUDE_RAD
) -> np.ndarray:
    """Rotate local east-north-up vectors into ECEF axes.

    Parameters
    ----------
    enu_m : array_like
        Shape (..., 3): east, north, up, metres, relative to the reference point.
    lat_rad, lon_rad : float
        Geodetic latitude and longitude of the reference point, radians
        (default: the DSA-110 T-centre).

    Returns
    -------
    numpy.ndarray
        Shape (..., 3): ECEF offsets dX, dY, dZ from the reference point, metres.
    """
    return np.asarray(enu_m, float) @ _enu_rotation(lat_rad, lon_rad)


def ecef_offsets_to_enu(
    offsets_m: ArrayLike, lat_rad: float = SITE_LATITUDE_RAD, lon_rad: float = SITE_LONGITUDE_RAD
) -> np.ndarray:
    """Rotate ECEF offsets into local east-north-up; inverse of :func:`enu_to_ecef_offsets`.

    Parameters
    ----------
    offsets_m : array_like
        Shape (..., 3): ECEF offsets from the reference point, metres
        (e.g. UVH5 ``antenna_positions``).
    lat_rad, lon_rad : float
        Geodetic latitude and longitude of the reference point, radians
        (default: the DSA-110 T-centre).

    Returns
    -------
    numpy.ndarray
        Shape (..., 3): east, north, up, metres.
    """
    return np.asarray(offsets_m, float) @ _enu_rotation(lat_rad, lon_rad).T


# --- The layout ---------------------------------------------------------------


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class ArrayLayout:
    """Positions and status of every antenna slot of the array.

    Row ``k`` of every per-antenna array is pad ``k + 1``, i.e. antenna
    number ``k`` in the UVH5 convention, so antenna numbers index the rows.

    Parameters
    ----------
    pad_numbers : numpy.ndarray
        Shape (N,), int: pad numbers, 1-based (DSA-001 is 1).
    enu_m : numpy.ndarray
        Shape (N, 3), float: east, north, up relative to the reference
        point (the T-centre), metres.
    active : numpy.ndarray
        Shape (N,), bool: True for slots that carry data.
    arm : numpy.ndarray
        Shape (N,), str: ``"EW"``, ``"NS"`` or ``"OUT"`` (outrigger).
    lat_rad, lon_rad, height_m : float
        WGS84 geodetic position of the reference point (radians, metres).
    """

    pad_numbers: np.ndarray
    enu_m: np.ndarray
    active: np.ndarray
    arm: np.ndarray
    lat_rad: float = SITE_LATITUDE_RAD
    lon_rad: float = SITE_LONGITUDE_RAD
    height_m: float = SITE_HEIGHT_M

    def __post_init__(self) -> None:
        n = self.pad_numbers.shape[0]
        if self.pad_numbers.shape != (n,) or self.enu_m.shape != (n, 3):
            raise ValueError("pad_numbers must be (N,) and enu_m (N, 3)")
        if self.active.shape != (n,) or self.arm.shape != (n,):
            raise ValueError("active and arm must be (N,) like pad_numbers")

    @property
    def n_antennas(self) -> int:
        """Number of antenna slots, active or not."""
        return int(self.pad_numbers.shape[0])

    @property
    def antenna_numbers(self) -> np.ndarray:
        """Shape (N,), int: UVH5 ``antenna_numbers`` (pad - 1)."""
        return self.pad_numbers - 1

    @property
    def antenna_names(self) -> np.ndarray:
        """Shape (N,), str: UVH5 ``antenna_names``, the pad numbers as text ("1".."117")."""
        return self.pad_numbers.astype(str)

    @property
    def active_indices(self) -> np.ndarray:
        """Shape (N_active,), int: rows (= antenna numbers) of the active slots."""
        return np.flatnonzero(self.active)

    @cached_property
    def site_ecef_m(self) -> np.ndarray:
        """Shape (3,): ECEF position of the reference point, metres."""
        return _readonly(geodetic_to_ecef(self.lat_rad, self.lon_rad, self.height_m))

    @cached_property
    def ecef_offsets_m(self) -> np.ndarray:
        """Shape (N, 3): ECEF minus the reference point's ECEF, metres (UVH5 ``antenna_positions``)."""
        return _readonly(enu_to_ecef_offsets(self.enu_m, self.lat_rad, self.lon_rad))

    @cached_property
    def ecef_m(self) -> np.ndarray:
        """Shape (N, 3): absolute ECEF positions, metres."""
        return _readonly(self.site_ecef_m + self.ecef_offsets_m)

    def baselines(self, active_only: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """List every cross-correlation baseline once.

        Parameters
        ----------
        active_only : bool
            If True (default) use only the antennas that carry data.

        Returns
        -------
        ant1, ant2 : numpy.ndarray
            Shape (N_bl,), int: antenna numbers with ``ant1 < ant2``; no
            autocorrelations.
        length_m : numpy.ndarray
            Shape (N_bl,), float: baseline lengths, metres.
        """
        ants = self.active_indices if active_only else np.arange(self.n_antennas)
        i, j = np.triu_indices(ants.size, k=1)
        ant1, ant2 = ants[i], ants[j]
        length_m = np.linalg.norm(self.enu_m[ant2] - self.enu_m[ant1], axis=-1)
        return ant1, ant2, length_m


STATIONS_FILE = Path(__file__).with_name("data") / "dsa110_stations.csv"
"""The surveyed station coordinates, one row per pad (``pad,station,lat_deg,lon_deg,elevation_m``)."""


def read_stations(path: Path = STATIONS_FILE) -> dict[str, np.ndarray]:
    """Read a station file: pad numbers, latitude, longitude (deg) and elevation (m).

    Lines starting with ``#`` are comments; a missing elevation is NaN.

    Raises
    ------
    ValueError
        If the pads are not 1..N in order.
    """
    rows = [
        line.split(",")
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ][1:]
    pads = np.array([int(r[0]) for r in rows])
    if not np.array_equal(pads, np.arange(1, pads.size + 1)):
        raise ValueError(f"{path}: pads must be listed 1..N in order")
    return {
        "pad": pads,
        "lat_deg": np.array([float(r[2]) for r in rows]),
        "lon_deg": np.array([float(r[3]) for r in rows]),
        "elevation_m": np.array([float(r[4]) if r[4].strip() else np.nan for r in rows]),
    }


def _surveyed_enu(stations: dict[str, np.ndarray], active: np.ndarray) -> np.ndarray:
    """ENU of every pad relative to the T-centre (heights as the module docstring says)."""
    relief = stations["elevation_m"] - np.nanmedian(stations["elevation_m"][active])
    relief = np.nan_to_num(relief, nan=0.0)
    ecef = geodetic_to_ecef(
        np.radians(stations["lat_deg"]), np.radians(stations["lon_deg"]), SITE_HEIGHT_M + relief
    )
    origin = geodetic_to_ecef(SITE_LATITUDE_RAD, SITE_LONGITUDE_RAD, SITE_HEIGHT_M)
    return ecef_offsets_to_enu(ecef - origin)


def build_dsa110_layout() -> ArrayLayout:
    """Build a fresh :class:`ArrayLayout` of DSA-110 from the surveyed stations.

    Returns
    -------
    ArrayLayout
        117 slots, 96 active (47 E-W, 35 N-S, 14 outriggers), relative to
        the T-centre. Prefer the cached :func:`dsa110_layout`.
    """
    stations = read_stations()
    pads = stations["pad"]
    if pads.size != N_ANTS_TELESCOPE:
        raise ValueError(f"{STATIONS_FILE}: {pads.size} pads, expected {N_ANTS_TELESCOPE}")
    active = ~np.isin(pads, INACTIVE_PADS)
    arm = np.select(
        [np.isin(pads, EW_ARM_PADS), np.isin(pads, NS_ARM_PADS)], ["EW", "NS"], default="OUT"
    )
    return ArrayLayout(
        pad_numbers=_readonly(pads),
        enu_m=_readonly(_surveyed_enu(stations, active)),
        active=_readonly(active),
        arm=_readonly(arm),
    )


@functools.cache
def dsa110_layout() -> ArrayLayout:
    """Return the DSA-110 layout (built once, arrays read-only).

    Returns
    -------
    ArrayLayout
        See :func:`build_dsa110_layout`.
    """
    return build_dsa110_layout()
