"""Cross-catalog duplicates merged by position."""

from __future__ import annotations

import numpy as np

from dsa110_contimg.catalog.merge import unique_by_position


def test_preferred_catalog_kept_and_same_catalog_pairs_untouched() -> None:
    arcsec = 1 / 3600
    ra = np.array([10.0, 10.0 + 3 * arcsec, 10.0 + 4 * arcsec, 20.0, 20.0 + 2 * arcsec, 30.0])
    dec = np.array([5.0, 5.0, 5.0, -10.0, -10.0, 45.0])
    cats = ["FIRST", "NVSS", "VLASS", "FIRST", "FIRST", "MYCAT"]
    keep = unique_by_position(ra, dec, cats)
    # NVSS wins the triple; the FIRST pair 2" apart is two components; the lone source stays
    assert keep.tolist() == [False, True, False, True, True, True]


def test_radius_and_unknown_catalogs_in_order() -> None:
    arcsec = 1 / 3600
    dec0 = 60.0  # RA offsets shrink with cos(dec)
    ra = np.array([0.0, 8 * arcsec / np.cos(np.radians(dec0)), 100.0, 100.0])
    dec = np.array([dec0, dec0, 0.0, 12 * arcsec])
    keep = unique_by_position(ra, dec, ["B", "A", "A", "B"])
    assert keep.tolist() == [True, False, True, True]  # B came first; 12" is beyond 10"
    wider = unique_by_position(ra, dec, ["B", "A", "A", "B"], radius_arcsec=15)
    assert wider.tolist() == [True, False, False, True]  # B is preferred everywhere
    assert unique_by_position(ra[:2], dec[:2], [None, "NVSS"]).tolist() == [False, True]
