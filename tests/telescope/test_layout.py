"""Tests of the generated DSA-110 array layout."""

import numpy as np
import pytest
from astropy import units as u

from dsa110_contimg.telescope import (
    INACTIVE_PADS,
    ArrayLayout,
    dsa110_layout,
    ecef_offsets_to_enu,
    enu_to_ecef_offsets,
    geodetic_to_ecef,
    site_location,
)


@pytest.fixture(scope="module")
def layout() -> ArrayLayout:
    return dsa110_layout()


def test_identifiers(layout):
    np.testing.assert_array_equal(layout.pad_numbers, np.arange(1, 118))
    np.testing.assert_array_equal(layout.antenna_numbers, np.arange(117))
    assert list(layout.antenna_names) == [str(p) for p in range(1, 118)]
    assert layout.enu_m.shape == (117, 3)


def test_active_antennas_split_47_35_14(layout):
    assert layout.active.sum() == 96
    assert layout.active_indices.size == 96
    counts = {arm: int(np.sum(layout.active & (layout.arm == arm))) for arm in ("EW", "NS", "OUT")}
    assert counts == {"EW": 47, "NS": 35, "OUT": 14}


def test_inactive_pads_exactly_as_documented(layout):
    inactive = tuple(int(p) for p in layout.pad_numbers[~layout.active])
    assert inactive == INACTIVE_PADS == (10, 21, 22, 23, *range(52, 68), 117)


def test_ew_arm_uniform_spacing_centred(layout):
    ew = layout.enu_m[layout.arm == "EW"]
    assert ew.shape == (51, 3)
    np.testing.assert_allclose(np.diff(ew[:, 0]), 5.75, atol=1e-9)
    np.testing.assert_allclose(ew[:, 1:], 0.0)
    assert ew[:, 0].min() == pytest.approx(-ew[:, 0].max())
    assert ew[:, 0].max() == pytest.approx(143.75)


def test_ns_arm_spacing_and_extent(layout):
    ns = layout.enu_m[layout.arm == "NS"]
    assert ns.shape == (51, 3)
    np.testing.assert_allclose(np.diff(ns[:, 1]), 8.653, atol=1e-9)
    np.testing.assert_allclose(ns[:, 0], 0.0)
    assert ns[0, 1] == pytest.approx(7.3)
    assert ns[-1, 1] == pytest.approx(440.0, abs=0.1)


def test_outriggers_in_documented_annulus_and_spread(layout):
    out = layout.enu_m[layout.arm == "OUT"]
    radius = np.hypot(out[:, 0], out[:, 1])
    assert radius.min() == pytest.approx(540.0)
    assert radius.max() == pytest.approx(2040.0)
    azimuth = np.arctan2(out[:, 0], out[:, 1])
    quadrants = np.floor((azimuth + np.pi) / (np.pi / 2)).astype(int)
    assert set(quadrants) == {0, 1, 2, 3}


def test_layout_is_deterministic_and_cached(layout):
    assert dsa110_layout() is layout
    assert not layout.enu_m.flags.writeable


def test_baseline_lengths_within_documented_ranges(layout):
    ant1, ant2, length = layout.baselines()
    assert ant1.size == 96 * 95 // 2
    assert np.all(ant1 < ant2)
    assert np.all(layout.active[ant1]) and np.all(layout.active[ant2])
    assert length.min() == pytest.approx(5.75)
    assert 1000.0 < length.max() < 4100.0
    all_ant1, _, _ = layout.baselines(active_only=False)
    assert all_ant1.size == 117 * 116 // 2


def test_site_ecef_matches_astropy(layout):
    loc = site_location()
    astropy_xyz = np.array([loc.x.to_value(u.m), loc.y.to_value(u.m), loc.z.to_value(u.m)])
    np.testing.assert_allclose(layout.site_ecef_m, astropy_xyz, rtol=0, atol=1e-3)


def test_enu_ecef_round_trip_to_mm(layout):
    offsets = enu_to_ecef_offsets(layout.enu_m)
    np.testing.assert_allclose(ecef_offsets_to_enu(offsets), layout.enu_m, rtol=0, atol=1e-3)
    np.testing.assert_allclose(layout.ecef_m - layout.site_ecef_m, layout.ecef_offsets_m, atol=1e-3)


def test_ecef_offsets_preserve_lengths(layout):
    np.testing.assert_allclose(
        np.linalg.norm(layout.ecef_offsets_m, axis=1),
        np.linalg.norm(layout.enu_m, axis=1),
        rtol=0,
        atol=1e-3,
    )


def test_enu_axes_point_the_right_way():
    lat, lon = 0.65, -2.06
    up = enu_to_ecef_offsets([0.0, 0.0, 1.0], lat, lon)
    normal = geodetic_to_ecef(lat, lon, 1.0) - geodetic_to_ecef(lat, lon, 0.0)
    np.testing.assert_allclose(up, normal, atol=1e-9)
    north = enu_to_ecef_offsets([0.0, 1.0, 0.0], lat, lon)
    assert north[2] > 0  # north tilts towards the +Z (polar) axis
    east = enu_to_ecef_offsets([1.0, 0.0, 0.0], lat, lon)
    np.testing.assert_allclose(np.cross(east, north), up, atol=1e-12)


def test_absolute_ecef_agrees_with_astropy_geodetic(layout):
    from astropy.coordinates import EarthLocation

    ecef = layout.ecef_m[layout.active]
    loc = EarthLocation.from_geocentric(ecef[:, 0], ecef[:, 1], ecef[:, 2], unit=u.m)
    height = loc.to_geodetic("WGS84").height.to_value(u.m)
    # pads lie in the tangent plane: they drop below the ellipsoid height only by r^2 / 2R
    radius = np.linalg.norm(layout.enu_m[layout.active], axis=1)
    np.testing.assert_allclose(height - 1188.05, radius**2 / (2 * 6.371e6), atol=0.01)
