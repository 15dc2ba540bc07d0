"""The one great-circle distance, checked against astropy's ``SkyCoord.separation``."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from dsa110_contimg import sky
from dsa110_contimg.catalog import store
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.telescope import beam


def _astropy_deg(ra1, dec1, ra2, dec2) -> np.ndarray:
    a = SkyCoord(ra1 * u.deg, dec1 * u.deg)
    b = SkyCoord(ra2 * u.deg, dec2 * u.deg)
    return a.separation(b).deg


@pytest.mark.parametrize(
    ("ra1", "dec1", "ra2", "dec2"),
    [
        (10.0, 20.0, 10.0 + 1e-7, 20.0 - 1e-7),  # sub-milliarcsecond
        (359.9999, -5.0, 0.0001, -5.0),  # across RA 0/360
        (120.0, 30.0, 125.0, 33.0),  # a few degrees
        (0.0, 0.0, 179.9999, 0.0),  # nearly antipodal
        (12.0, 45.0, 192.0, -45.0),  # exactly antipodal
        (0.0, 89.9999, 180.0, 89.9999),  # across the north pole
        (33.0, -90.0, 270.0, -89.99),  # from the south pole
    ],
)
def test_separation_matches_astropy(ra1, dec1, ra2, dec2) -> None:
    expected = _astropy_deg(np.array([ra1]), np.array([dec1]), np.array([ra2]), np.array([dec2]))
    got = sky.separation_deg(ra1, dec1, ra2, dec2)
    assert got == pytest.approx(expected[0], rel=1e-9, abs=1e-12)


def test_separation_is_vectorised_and_matches_astropy_on_random_pairs() -> None:
    rng = np.random.default_rng(14)
    n = 5000
    ra1, ra2 = rng.uniform(0, 360, (2, n))
    dec1, dec2 = np.degrees(np.arcsin(rng.uniform(-1, 1, (2, n))))
    got = sky.separation_deg(ra1, dec1, ra2, dec2)
    assert got.shape == (n,)
    np.testing.assert_allclose(got, _astropy_deg(ra1, dec1, ra2, dec2), rtol=1e-9, atol=1e-12)
    # broadcasting a scalar centre against arrays, as the cone searches do
    centre = sky.separation_deg(ra1, dec1, 150.0, -20.0)
    np.testing.assert_allclose(
        centre, _astropy_deg(ra1, dec1, np.full(n, 150.0), np.full(n, -20.0)), rtol=1e-9
    )


def test_every_caller_uses_the_one_function() -> None:
    assert beam.angular_separation is sky.angular_separation
    assert repo.angular_separation_deg is sky.separation_deg
    assert store.separation_deg is sky.separation_deg
    assert not hasattr(store, "_separation_deg")
