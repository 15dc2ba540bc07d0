"""Tests of the Airy primary beam."""

import numpy as np
import pytest

from dsa110_contimg.telescope import (
    AIRY_FIRST_NULL_X,
    airy_power,
    angular_separation,
    beam_fwhm_deg,
    beam_offset_for_level,
    primary_beam,
)

FREQ_HZ = 1405e6


def test_fwhm_at_documented_frequencies():
    assert beam_fwhm_deg(1405e6) == pytest.approx(2.71, rel=0.02)
    assert beam_fwhm_deg(1311.25e6) == pytest.approx(2.90, abs=0.02)
    assert beam_fwhm_deg(1498.75e6) == pytest.approx(2.54, abs=0.02)
    np.testing.assert_allclose(
        beam_fwhm_deg(np.array([1311.25e6, 1498.75e6])), [2.90, 2.54], atol=0.02
    )


def test_power_is_half_at_half_width():
    half_width = np.radians(beam_fwhm_deg(FREQ_HZ) / 2)
    assert airy_power(half_width, FREQ_HZ) == pytest.approx(0.5, abs=1e-9)


def test_beam_offset_for_level_inverts_the_power():
    levels = np.array([0.9, 0.5, 0.2, 0.05])
    offsets = beam_offset_for_level(levels, FREQ_HZ)
    np.testing.assert_allclose(airy_power(offsets, FREQ_HZ), levels, atol=1e-9)
    assert beam_offset_for_level(1.0, FREQ_HZ) == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.diff(offsets) > 0)
    with pytest.raises(ValueError, match=r"beam level must lie in \[0, 1\], got 1\.5"):
        beam_offset_for_level(1.5, FREQ_HZ)


def test_unity_at_pointing_and_zero_at_first_null():
    assert airy_power(0.0, FREQ_HZ) == 1.0
    assert primary_beam(1.0, 0.5, 1.0, 0.5, FREQ_HZ) == 1.0
    null = beam_offset_for_level(0.0, FREQ_HZ)
    assert airy_power(null, FREQ_HZ) == pytest.approx(0.0, abs=1e-12)
    wavelength = 299_792_458.0 / FREQ_HZ
    assert np.sin(null) == pytest.approx(AIRY_FIRST_NULL_X * wavelength / (np.pi * 4.65))


def test_symmetric_and_monotone_to_first_null():
    null = float(beam_offset_for_level(0.0, FREQ_HZ))
    theta = np.linspace(0.0, null, 2001)
    power = airy_power(theta, FREQ_HZ)
    np.testing.assert_array_equal(power, airy_power(-theta, FREQ_HZ))
    assert np.all(np.diff(power) < 0)
    assert np.all((power >= 0) & (power <= 1))


def test_primary_beam_symmetric_about_pointing():
    ra0, dec0 = np.radians(150.0), np.radians(40.0)
    offset = np.radians(1.0)
    ra = ra0 + np.array([offset, -offset]) / np.cos(dec0)
    east_west = primary_beam(ra, dec0, ra0, dec0, FREQ_HZ)
    north_south = primary_beam(ra0, dec0 + np.array([offset, -offset]), ra0, dec0, FREQ_HZ)
    assert east_west[0] == pytest.approx(east_west[1], rel=1e-12)
    assert north_south[0] == pytest.approx(north_south[1], rel=1e-12)
    assert north_south[0] == pytest.approx(airy_power(offset, FREQ_HZ), rel=1e-12)
    assert east_west[0] == pytest.approx(north_south[0], rel=1e-3)  # small-angle equality


def test_broadcasting_positions_against_frequencies():
    ra = np.radians(np.linspace(149.0, 151.0, 5))[:, None]
    freqs = np.array([1311.25e6, 1405e6, 1498.75e6])
    power = primary_beam(ra, np.radians(40.0), np.radians(150.0), np.radians(40.0), freqs)
    assert power.shape == (5, 3)
    # off-centre, higher frequency means a narrower beam and less power
    assert np.all(np.diff(power[0]) < 0)


def test_angular_separation_matches_known_values():
    assert angular_separation(0.0, 0.0, np.pi / 2, 0.0) == pytest.approx(np.pi / 2)
    assert angular_separation(0.3, np.pi / 2, 2.0, np.pi / 2) == pytest.approx(0.0, abs=1e-12)
    assert angular_separation(1.0, 0.2, 1.0, 0.2 + 1e-9) == pytest.approx(1e-9, rel=1e-6)
