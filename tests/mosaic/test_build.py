"""The co-add's pieces that need no pipeline: the common beam and its refusal."""

from __future__ import annotations

import pytest
from astropy.io import fits
from astropy.wcs import WCS

from dsa110_contimg.errors import InputDataError
from dsa110_contimg.mosaic.build import common_beam, mosaic_grid, tile_box


def _header(bmaj_arcsec: float, bmin_arcsec: float, bpa: float = 90.0) -> fits.Header:
    return fits.Header({"BMAJ": bmaj_arcsec / 3600, "BMIN": bmin_arcsec / 3600, "BPA": bpa})


def test_common_beam_is_the_median() -> None:
    beam = common_beam([_header(116.0, 30.0), _header(116.2, 29.8), _header(115.9, 30.1, 94.0)])
    assert beam[0] * 3600 == pytest.approx(116.0) and beam[1] * 3600 == pytest.approx(30.0)
    assert beam[2] == pytest.approx(90.0)


def test_beams_more_than_5_percent_apart_refused() -> None:
    with pytest.raises(InputDataError, match="restoring beams differ"):
        common_beam([_header(116.0, 30.0), _header(116.0, 30.0), _header(116.0, 33.0)])
    # within the tolerance, or with a wider one asked for
    common_beam([_header(116.0, 30.0), _header(119.0, 30.0)])
    common_beam([_header(116.0, 30.0), _header(130.0, 30.0)], tolerance=0.1)


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
