"""DSA-110 instrument numbers: the single source of truth for the package.

Every number here comes from the project's instrument reference
(``docs/dsa110.md`` sections 1 and 2). Units are part of each name
(``_HZ``, ``_S``, ``_M``, ``_RAD``, ``_JY``, ``_BYTES``); dimensionless counts
carry ``N_``. Derived values are computed from the primary ones so they can
never drift apart.

Real data files carry their own telescope location and antenna positions:
code reading files should prefer those, and use the numbers here for
simulation, defaults and sanity checks.

The primary flux calibrators are not instrument facts and live with the
calibration code.
"""

from __future__ import annotations

from astropy import units as u
from astropy.coordinates import EarthLocation

# --- Identity (as written in the UVH5 headers) ------------------------------

TELESCOPE_NAME = "OVRO_MMA"
"""``telescope_name`` in the raw UVH5 files (CASA knows this name)."""

INSTRUMENT = "DSA"
"""``instrument`` in the raw UVH5 files."""

# --- Site: the array's T-centre (WGS84) --------------------------------------

SITE_LATITUDE_RAD = 0.6498455107238486
"""Geodetic latitude of the T-centre, radians (37.2334 deg N)."""

SITE_LONGITUDE_RAD = -2.064427799136453
"""Geodetic longitude of the T-centre, radians, east positive (-118.2830 deg)."""

SITE_HEIGHT_M = 1188.05
"""Height of the T-centre above the WGS84 ellipsoid, metres."""

# --- Frequency setup ----------------------------------------------------------

N_SUBBANDS = 16
"""Subbands, one UVH5 file each (``sb00`` .. ``sb15``)."""

N_CHAN_PER_SUBBAND = 48
"""Channels per subband file."""

N_CHANNELS = N_SUBBANDS * N_CHAN_PER_SUBBAND
"""Channels across the whole band (768)."""

CHANNEL_WIDTH_HZ = 244_140.625
"""Width of one channel, Hz (always positive here; old files store it signed)."""

SUBBAND_WIDTH_HZ = N_CHAN_PER_SUBBAND * CHANNEL_WIDTH_HZ
"""Width of one subband, Hz (11.71875 MHz)."""

BANDWIDTH_HZ = N_CHANNELS * CHANNEL_WIDTH_HZ
"""Total science bandwidth, Hz (187.5 MHz)."""

BAND_LOW_HZ = 1311.25e6
"""Lower edge of the science band (lowest channel's lower edge), Hz."""

BAND_HIGH_HZ = BAND_LOW_HZ + BANDWIDTH_HZ
"""Upper edge of the science band (highest channel's upper edge), Hz (1498.75 MHz)."""

CHANNEL_FREQ_MIN_HZ = BAND_LOW_HZ + CHANNEL_WIDTH_HZ / 2
"""Centre of the lowest channel, Hz (1311.3720703125 MHz)."""

CHANNEL_FREQ_MAX_HZ = BAND_HIGH_HZ - CHANNEL_WIDTH_HZ / 2
"""Centre of the highest channel, Hz (1498.6279296875 MHz)."""

# --- Time sampling ------------------------------------------------------------

INTEGRATION_TIME_S = 12.884902
"""Length of one integration, seconds."""

N_INTEGRATIONS_PER_FILE = 24
"""Integrations in one 5-minute UVH5 file."""

GROUP_DURATION_S = N_INTEGRATIONS_PER_FILE * INTEGRATION_TIME_S
"""Time covered by one file / one 16-subband group, seconds (309.237648 s)."""

# --- Antennas and dishes --------------------------------------------------------

N_ANTS_TELESCOPE = 117
"""Antenna slots (pads DSA-001 .. DSA-117), UVH5 ``Nants_telescope``."""

N_ANTS_DATA = 96
"""Antennas present in the data, UVH5 ``Nants_data``."""

INACTIVE_PADS: tuple[int, ...] = (10, 21, 22, 23, *range(52, 68), 117)
"""Pad numbers (1-based) of the slots that carry no data."""

N_BASELINES_DATA = N_ANTS_DATA * (N_ANTS_DATA + 1) // 2
"""Baselines per integration including autocorrelations (4656), UVH5 ``Nbls``."""

N_BLTS_PER_FILE = N_BASELINES_DATA * N_INTEGRATIONS_PER_FILE
"""Baseline-times per file (111744), UVH5 ``Nblts``."""

DISH_DIAMETER_M = 4.65
"""Dish diameter, metres."""

SEFD_JY = 6500.0
"""System equivalent flux density of one antenna, Jy (approximate)."""

POLARIZATION_CODES: tuple[int, ...] = (-5, -6)
"""AIPS polarization codes recorded: XX (-5), YY (-6)."""

SUBBAND_FILE_SIZE_BYTES = 145_348_600
"""Size of one raw subband UVH5 file, bytes."""

# --- Array layout: which pad is where (positions: :mod:`.layout`) ---------------

EW_ARM_PADS = range(1, 52)
"""Pads of the east-west arm, DSA-001 .. DSA-051."""

NS_ARM_PADS = range(52, 103)
"""Pads of the north-south arm, DSA-052 .. DSA-102."""

OUTRIGGER_PADS = range(103, 118)
"""Outrigger pads, DSA-103 .. DSA-117."""


def site_location() -> EarthLocation:
    """Return the array's T-centre as an astropy location.

    Built from the geodetic WGS84 coordinates above, so no site registry
    or other download is ever consulted. A new object is returned on each
    call, so callers may not alter a shared one.

    Returns
    -------
    astropy.coordinates.EarthLocation
        Latitude :data:`SITE_LATITUDE_RAD`, longitude
        :data:`SITE_LONGITUDE_RAD` (east positive), height
        :data:`SITE_HEIGHT_M` above the WGS84 ellipsoid.
    """
    return EarthLocation.from_geodetic(
        lon=SITE_LONGITUDE_RAD * u.rad,
        lat=SITE_LATITUDE_RAD * u.rad,
        height=SITE_HEIGHT_M * u.m,
        ellipsoid="WGS84",
    )
