"""The co-add's pieces that need no pipeline: the common beam, its refusal, the grid."""

from __future__ import annotations

import pytest
from astropy.io import fits
from astropy.wcs import WCS

from dsa110_contimg.errors import InputDataError
from dsa110_contimg.mosaic.build import common_beam, mosaic_grid, tile_box


def _header(bmaj_arcsec: float, bmin_arcsec: float, bpa: float = 90.0) -> fits.Header:
    return fits.Header({"BMAJ": bmaj_arcsec / 3600, "BMIN": bmin_arcsec / 3600, "BPA": bpa})


def test_common_beam_of_equal_beams_is_that_beam() -> None:
    beam = common_beam([_header(116.0, 30.0), _header(116.0, 30.0), _header(100.0, 25.0)])
    assert beam.major_deg * 3600 == pytest.approx(116.0) and beam.pa_deg == pytest.approx(90.0)
    assert beam.minor_deg * 3600 == pytest.approx(30.0)


def test_common_beam_of_crossed_beams_is_the_circle() -> None:
    """Two 60" x 30" beams at right angles: no ellipse smaller than the 60" circle holds both."""
    beam = common_beam([_header(60.0, 30.0, 0.0), _header(60.0, 30.0, 90.0)])
    assert beam.major_deg * 3600 == pytest.approx(60.0, rel=1e-3)
    assert beam.minor_deg * 3600 == pytest.approx(60.0, rel=1e-3)


def test_common_beam_holds_every_beam_and_is_no_larger_than_needed() -> None:
    from dsa110_contimg.mosaic.beams import Beam, contains

    beams = [Beam(60 / 3600, 30 / 3600, 10.0), Beam(50 / 3600, 35 / 3600, 70.0)]
    common = common_beam([_header(b.major_deg * 3600, b.minor_deg * 3600, b.pa_deg) for b in beams])
    assert all(contains(common, b, rtol=1e-6) for b in beams)
    # shrinking it by 1% in area loses one of them
    for scale in ((0.99, 1.0), (1.0, 0.99)):
        smaller = Beam(common.major_deg * scale[0], common.minor_deg * scale[1], common.pa_deg)
        assert not all(contains(smaller, b, rtol=1e-6) for b in beams)


def test_beams_too_different_refused() -> None:
    with pytest.raises(InputDataError, match="restoring beams are too different"):
        common_beam([_header(30.0, 30.0), _header(120.0, 60.0)])
    common_beam([_header(30.0, 30.0), _header(120.0, 60.0)], max_ratio=10.0)


def _tile(ra_deg: float, dec_deg: float = 30.0, size: int = 100) -> fits.Header:
    header = fits.Header()
    header.update(NAXIS=2, NAXIS1=size, NAXIS2=size, CTYPE1="RA---SIN", CTYPE2="DEC--SIN")
    header.update(CRVAL1=ra_deg, CRVAL2=dec_deg, CRPIX1=size / 2 + 1, CRPIX2=size / 2 + 1)
    header.update(CDELT1=-0.04, CDELT2=0.04)
    return header


def test_grid_holds_the_tiles_sin_or_car_for_long_strips() -> None:
    pair = [_tile(200.0), _tile(201.0)]
    wcs, shape = mosaic_grid(pair, cell_arcsec=144.0)
    assert wcs.wcs.ctype[0] == "RA---SIN" and shape[1] > shape[0]
    boxes = [tile_box(WCS(h), (100, 100), wcs, shape) for h in pair]
    assert all(b[1].stop - b[1].start < shape[1] for b in boxes)  # each tile, not the grid
    assert min(b[1].start for b in boxes) == 0 and max(b[1].stop for b in boxes) == shape[1]
    strip = [_tile(ra) for ra in (0.0, 45.0, 90.0, 135.0)]
    wcs, shape = mosaic_grid(strip, cell_arcsec=1800.0)
    assert wcs.wcs.ctype[0] == "RA---CAR"
    for header in strip:  # each tile lands inside the grid
        box = tile_box(WCS(header), (100, 100), wcs, shape)
        assert box is not None and box[1].stop - box[1].start < shape[1] / 2
