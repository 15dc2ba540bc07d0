"""Tests of the DSA-110 instrument constants and the site location."""

import socket
import urllib.request

import numpy as np
import pytest
from astropy import units as u

from dsa110_contimg.telescope import constants as k
from dsa110_contimg.telescope import site_location


def test_frequency_setup_is_self_consistent():
    assert k.N_SUBBANDS == 16
    assert k.N_CHAN_PER_SUBBAND == 48
    assert k.N_CHANNELS == 768
    assert k.CHANNEL_WIDTH_HZ == 244_140.625
    assert k.SUBBAND_WIDTH_HZ == 11.71875e6
    assert k.BANDWIDTH_HZ == 187.5e6
    assert k.CHANNEL_FREQ_MIN_HZ == 1311.3720703125e6
    assert k.CHANNEL_FREQ_MAX_HZ == 1498.6279296875e6
    assert k.BAND_HIGH_HZ == 1498.75e6


def test_time_sampling():
    assert k.INTEGRATION_TIME_S == 12.884902
    assert k.N_INTEGRATIONS_PER_FILE == 24
    assert k.GROUP_DURATION_S == pytest.approx(309.237648, abs=1e-9)
    assert round(k.GROUP_DURATION_S, 2) == 309.24


def test_antenna_counts_and_inactive_pads():
    assert k.N_ANTS_TELESCOPE == 117
    assert k.N_ANTS_DATA == 96
    assert k.INACTIVE_PADS == (10, 21, 22, 23, *range(52, 68), 117)
    assert k.N_ANTS_TELESCOPE - len(k.INACTIVE_PADS) == k.N_ANTS_DATA
    assert k.N_BASELINES_DATA == 4656
    assert k.N_BLTS_PER_FILE == 111_744
    pads = [*k.EW_ARM_PADS, *k.NS_ARM_PADS, *k.OUTRIGGER_PADS]
    assert pads == list(range(1, 118))


def test_other_instrument_numbers():
    assert k.DISH_DIAMETER_M == 4.65
    assert k.SEFD_JY == 6500.0
    assert k.POLARIZATION_CODES == (-5, -6)
    assert k.SUBBAND_FILE_SIZE_BYTES == 145_348_600
    assert k.TELESCOPE_NAME == "OVRO_MMA"
    assert k.INSTRUMENT == "DSA"


def test_site_location_matches_constants():
    loc = site_location()
    lon, lat, height = loc.to_geodetic("WGS84")
    assert lat.to_value(u.rad) == pytest.approx(k.SITE_LATITUDE_RAD, abs=1e-12)
    assert lon.to_value(u.rad) == pytest.approx(k.SITE_LONGITUDE_RAD, abs=1e-12)
    assert height.to_value(u.m) == pytest.approx(k.SITE_HEIGHT_M, abs=1e-6)
    assert np.degrees(k.SITE_LATITUDE_RAD) == pytest.approx(37.2334, abs=1e-4)
    assert np.degrees(k.SITE_LONGITUDE_RAD) == pytest.approx(-118.2830, abs=1e-4)


def test_site_location_never_touches_the_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("site_location() tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    loc = site_location()
    assert np.isfinite(loc.x.to_value(u.m))
    assert loc.to_geodetic().height.to_value(u.m) == pytest.approx(1188.05, abs=1e-6)
