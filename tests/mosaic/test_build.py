"""The co-add's pieces that need no pipeline: the common beam and its refusal."""

from __future__ import annotations

import pytest
from astropy.io import fits

from dsa110_contimg.errors import InputDataError
from dsa110_contimg.mosaic.build import common_beam


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
