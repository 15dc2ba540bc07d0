"""The catalog clean mask: WSClean cleans where the catalog has sources, on our grid, and
a source the catalog lacks is found in the residual and cleaned on a second run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from dsa110_contimg.imaging import get_tier, image_ms
from dsa110_contimg.imaging.mask import CleanMask, circles, peaks_outside, tile_wcs
from dsa110_contimg.imaging.msinfo import read_ms_summary
from dsa110_contimg.qa import robust_rms

from .conftest import needs_wsclean, scaled_tier, true_catalog


def test_circles_are_round_the_positions() -> None:
    wcs = tile_wcs(200, 6.0, 150.0, 40.0)
    ra, dec = wcs.pixel_to_world_values([60.3, 198.6], [80.7, 100.2])
    mask = circles((200, 200), wcs, ra, dec, 30.0)  # 5 cells
    yy, xx = np.mgrid[:200, :200]
    inside = np.hypot(xx - 60.3, yy - 80.7) <= 5.0
    edge = np.hypot(xx - 198.6, yy - 100.2) <= 5.0  # half off the grid, kept
    assert np.array_equal(mask, inside | edge)


def test_no_mask_without_sources_on_the_image(tmp_path: Path) -> None:
    tier = get_tier("standard", {}).model_copy(update={"size": 100})
    far = CleanMask.from_catalog(tier, 10.0, 20.0, [200.0], [-40.0], path=tmp_path / "m.fits")
    assert far is None and not (tmp_path / "m.fits").exists()
    none = get_tier("deep", {})  # no catalog mask in this tier
    assert (
        CleanMask.from_catalog(none, 10.0, 20.0, [10.0], [20.0], path=tmp_path / "m.fits") is None
    )


def test_peaks_outside_the_mask() -> None:
    wcs = tile_wcs(100, 6.0, 150.0, 40.0)
    rng = np.random.default_rng(1)
    residual = rng.normal(0, 1.0, (100, 100))
    residual[30, 40] = 50.0  # inside the mask: ignored
    residual[70, 20] = 30.0  # outside: found
    mask = np.zeros((100, 100), bool)
    mask[25:35, 35:45] = True
    ra, dec, rms = peaks_outside(residual, mask, wcs, 10.0)
    assert rms == pytest.approx(1.0, rel=0.05)
    x, y = wcs.world_to_pixel_values(ra, dec)
    assert np.allclose(x, [20.0]) and np.allclose(y, [70.0])
    # below the field's dynamic-range floor (a bright source's calibration sidelobes): left
    assert peaks_outside(residual, mask, wcs, 10.0, floor=35.0)[0].size == 0


@needs_wsclean
def test_masked_clean_on_our_grid_with_a_rescue(field: dict, imaged, tmp_path: Path) -> None:
    """All catalog sources but the brightest form the mask: WSClean's image is on the
    mask's grid, it cleans only inside the circles at first, the brightest source is found
    in the residual and cleaned on the second run, and the image is no noisier than the
    auto-masked one (the ``imaged`` fixture: same tier, no catalog)."""
    catalog = true_catalog(field["truth"], field["group"], 1.405e9)
    tier = scaled_tier(field["ms"])
    summary = read_ms_summary(field["ms"])
    grid = tile_wcs(tier.size, tier.cell_arcsec, summary.phase_ra_deg, summary.phase_dec_deg)
    x, y = grid.world_to_pixel_values(catalog["ra_deg"], catalog["dec_deg"])
    on_image = (x > 0) & (y > 0) & (x < tier.size - 1) & (y < tier.size - 1)
    brightest = int(np.argmax(np.where(on_image, catalog["flux_jy"], 0.0)))
    keep = np.arange(catalog["ra_deg"].size) != brightest
    result = image_ms(
        field["ms"],
        tmp_path,
        tier=tier,
        data_column="DATA",
        mask_sources=(catalog["ra_deg"][keep], catalog["dec_deg"][keep]),
    )
    log_text = Path(result.log_path).read_text()
    command = log_text.splitlines()[0]
    assert log_text.count("-fits-mask") == 2 and "imaged again" in log_text  # both runs kept
    assert "-fits-mask" in command and f"-niter {tier.catalog_mask_niter}" in command
    mask = result.clean_mask
    assert mask is not None and mask["sources"] == int((on_image & keep).sum())
    assert 1 <= mask["rescued"] <= 5  # the left-out source, not its sidelobes

    header = fits.getheader(result.products["model"])
    ours = tile_wcs(tier.size, tier.cell_arcsec, result.ra_deg, result.dec_deg)
    theirs = WCS(header).celestial
    assert np.allclose(theirs.wcs.crpix, ours.wcs.crpix)
    assert np.allclose(theirs.wcs.cdelt, ours.wcs.cdelt)
    assert np.allclose(np.asarray(theirs.wcs.crval) % 360, np.asarray(ours.wcs.crval) % 360)

    # every component within the circles of the catalog's sources or of the rescued one
    model = np.squeeze(fits.getdata(result.products["model"]))
    ys, xs = np.nonzero(model)
    x, y = ours.world_to_pixel_values(catalog["ra_deg"], catalog["dec_deg"])
    radius_px = tier.catalog_mask_arcsec / tier.cell_arcsec
    nearest = np.min(np.hypot(xs[:, None] - x[None], ys[:, None] - y[None]), axis=1)
    assert np.all(nearest <= radius_px + 1)
    bx, by = x[brightest], y[brightest]
    near_brightest = np.hypot(xs - bx, ys - by) <= radius_px
    assert model[ys[near_brightest], xs[near_brightest]].sum() > 0.5 * catalog["flux_jy"][brightest]

    # no noisier than the auto-masked image of the same data
    masked_rms = robust_rms(np.squeeze(fits.getdata(result.products["residual"])))
    auto_rms = robust_rms(np.squeeze(fits.getdata(imaged.products["residual"])))
    assert masked_rms <= 1.02 * auto_rms
