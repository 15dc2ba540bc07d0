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


def _junction(layout):
    """Where the arms meet: the N-S arm's east, the E-W arm's north."""
    east = layout.enu_m[layout.arm == "NS", 0].mean()
    north = layout.enu_m[layout.arm == "EW", 1].mean()
    return np.array([east, north, 0.0])


def test_ew_arm_reaches_198_m_unevenly(layout):
    ew = layout.enu_m[layout.arm == "EW"] - _junction(layout)
    assert ew.shape == (51, 3)
    np.testing.assert_allclose(ew[:, 1], 0.0, atol=0.05)  # one line of latitude
    assert ew[:, 0].min() == pytest.approx(-198.4, abs=1.0)
    assert ew[:, 0].max() == pytest.approx(198.4, abs=1.0)
    spacing = np.diff(ew[:, 0])
    assert spacing.min() == pytest.approx(5.75, abs=0.01)
    assert spacing.max() > 1.5 * spacing.min()  # not evenly spaced


def test_ns_arm_extent(layout):
    ns = layout.enu_m[layout.arm == "NS"] - _junction(layout)
    assert ns.shape == (51, 3)
    np.testing.assert_allclose(ns[:, 0], 0.0, atol=0.05)
    assert np.all(np.diff(ns[:, 1]) > 0)
    assert 400.0 < ns[-1, 1] < 460.0


def test_outrigger_extents_as_surveyed(layout):
    out = layout.enu_m[(layout.arm == "OUT") & layout.active] - _junction(layout)
    assert out[:, 1].max() == pytest.approx(1840.0, abs=20.0)  # north
    assert out[:, 0].min() == pytest.approx(-1150.0, abs=60.0)  # west: "1.2 km"
    assert out[:, 0].max() == pytest.approx(590.0, abs=20.0)  # east: "0.6 km"


def test_positions_match_the_survey_through_astropy(layout):
    """An independent geodesy (astropy) maps our ECEF back onto the surveyed lat/lon."""
    from astropy.coordinates import EarthLocation

    from dsa110_contimg.telescope.layout import read_stations

    stations = read_stations()
    ecef = layout.ecef_m
    loc = EarthLocation.from_geocentric(ecef[:, 0], ecef[:, 1], ecef[:, 2], unit=u.m)
    geo = loc.to_geodetic("WGS84")
    metres_per_deg = np.pi / 180 * 6.371e6
    np.testing.assert_allclose(
        geo.lat.to_value(u.deg), stations["lat_deg"], atol=0.01 / metres_per_deg
    )
    np.testing.assert_allclose(
        geo.lon.to_value(u.deg), stations["lon_deg"], atol=0.02 / metres_per_deg
    )
    relief = np.diff(stations["elevation_m"][np.isfinite(stations["elevation_m"])])
    np.testing.assert_allclose(np.diff(geo.height.to_value(u.m)[:116]), relief, atol=0.01)


def test_layout_is_deterministic_and_cached(layout):
    assert dsa110_layout() is layout
    assert not layout.enu_m.flags.writeable


def test_baseline_lengths_as_surveyed(layout):
    ant1, ant2, length = layout.baselines()
    assert ant1.size == 96 * 95 // 2
    assert np.all(ant1 < ant2)
    assert np.all(layout.active[ant1]) and np.all(layout.active[ant2])
    assert length.min() == pytest.approx(5.75, abs=0.01)
    assert length.max() == pytest.approx(2600.0, abs=10.0)  # longest active baseline 2.6 km
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
