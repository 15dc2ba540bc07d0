"""Channel averaging before gridding: the smearing estimate, the averaged MS, the image it makes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from casacore import tables

from dsa110_contimg.errors import InputDataError
from dsa110_contimg.imaging import image_ms
from dsa110_contimg.imaging.average import (
    _average,
    average_ms,
    channel_factor,
    smearing_loss,
    uniform_weights,
)

from .conftest import needs_wsclean, scaled_tier, true_catalog


def _fringe_amplitude(u: float, radius: float, width_over_freq: float, n: int = 4001) -> float:
    """|mean of the fringe phasor across one channel|, summed over sub-channels (no sinc)."""
    offsets = np.linspace(-0.5, 0.5, n) * width_over_freq
    return float(abs(np.mean(np.exp(2j * np.pi * u * radius * (1 + offsets)))))


@pytest.mark.parametrize("u", [500.0, 4000.0, 13000.0])
def test_smearing_matches_the_fringe_summed_across_the_channel(u: float) -> None:
    radius, ratio = np.radians(2.1), 4 * 244e3 / 1.311e9
    # one E-W baseline: the worst position angle is along it
    loss = smearing_loss(np.array([[u, 0.0]]), ratio, radius)
    assert loss == pytest.approx(1 - _fringe_amplitude(u, radius, ratio), abs=2e-4)
    assert loss > 0


def test_uniform_weights_share_a_cell() -> None:
    uv = np.array([[10.0, 0.0], [10.5, 0.2], [300.0, 40.0]])
    w = uniform_weights(uv, cell_lambda=1.0)
    assert w[0] == w[1] == pytest.approx(w[2] / 2)
    # across a 14% band the short ones leave their shared cell
    assert uniform_weights(uv, 1.0, band_ratio=1.14)[0] > w[0]


def test_channel_factor_grows_with_the_budget_and_divides_the_channels() -> None:
    rng = np.random.default_rng(1)
    uv = rng.normal(0, 3000, size=(3000, 2))
    args = (uv, 1.311e9, 244140.625, 768, np.radians(2.12))
    tight, loss_tight = channel_factor(*args, budget=1e-5)
    loose, loss_loose = channel_factor(*args, budget=0.01)
    looser, _ = channel_factor(*args, budget=0.05)
    assert tight == 1 and loss_tight == 0
    assert 1 < loose < looser and 768 % loose == 0 and 768 % looser == 0
    assert 0 < loss_loose <= 0.01
    # only divisors of the channel count are chosen, whatever the budget
    assert channel_factor(*args[:3], 9, args[4], budget=0.5)[0] in (1, 3, 9)


def test_no_baselines_means_no_averaging() -> None:
    assert channel_factor(np.zeros((0, 2)), 1.311e9, 244140.625, 768, 0.037, budget=0.01) == (
        1,
        0.0,
    )


def test_a_flagged_first_integration_does_not_hide_the_baselines(
    field: dict, tmp_path: Path
) -> None:
    """A broadband RFI burst flags a whole integration; the uv coverage comes from another.

    Taken from the flagged first integration the coverage was empty, and a
    group was averaged 16-fold (a third of the flux lost at 2 deg).
    """
    import shutil

    from dsa110_contimg.imaging.average import imaged_uv_lambda
    from dsa110_contimg.imaging.msinfo import read_ms_summary
    from dsa110_contimg.imaging.stage import channel_factor_for

    ms = tmp_path / "burst.ms"
    shutil.copytree(field["ms"], ms)
    summary = read_ms_summary(ms)
    tier = scaled_tier(ms).model_copy(update={"average_channels": "auto"})
    f0 = float(summary.freqs_hz.min())
    before = imaged_uv_lambda(ms, f0)
    factor_before = channel_factor_for(tier, summary)
    with tables.table(str(ms), readonly=False, ack=False) as tb:
        time = tb.getcol("TIME")
        flag = tb.getcol("FLAG")
        flag[time == time.min()] = True
        tb.putcol("FLAG", flag)
    after = imaged_uv_lambda(ms, f0)
    assert len(after) == len(before) > 0
    assert channel_factor_for(tier, summary) == factor_before


def test_bins_average_unflagged_channels_only() -> None:
    data = np.arange(1, 9, dtype=np.complex64).reshape(1, 8, 1) * (1 + 1j)
    flag = np.zeros_like(data, dtype=bool)
    flag[0, 1, 0] = True  # bin 0: only channel 0 counts
    flag[0, 2:4, 0] = True  # bin 1: all flagged
    out, out_flag = _average(data, flag, 2)
    assert out[0, :, 0].tolist() == [1 + 1j, 0, 5.5 + 5.5j, 7.5 + 7.5j]
    assert out_flag[0, :, 0].tolist() == [False, True, False, False]


def test_averaged_ms_has_the_band_and_the_data(field: dict, tmp_path: Path) -> None:
    out = average_ms(field["ms"], tmp_path / "avg.ms", 4, "DATA")
    with tables.table(str(field["ms"]), ack=False) as src, tables.table(str(out), ack=False) as dst:
        assert dst.nrows() == src.nrows()
        for col in ("ANTENNA1", "ANTENNA2", "TIME", "UVW"):
            np.testing.assert_array_equal(dst.getcol(col), src.getcol(col))
        np.testing.assert_allclose(dst.getcol("WEIGHT"), 4 * src.getcol("WEIGHT"))
        data, flag = src.getcol("DATA", 0, 500), src.getcol("FLAG", 0, 500)
        expect, expect_flag = _average(data, flag, 4)
        np.testing.assert_allclose(dst.getcol("DATA", 0, 500), expect, rtol=1e-6)
        np.testing.assert_array_equal(dst.getcol("FLAG", 0, 500), expect_flag)
    with (
        tables.table(f"{field['ms']}/SPECTRAL_WINDOW", ack=False) as s,
        tables.table(f"{out}/SPECTRAL_WINDOW", ack=False) as d,
    ):
        freqs = s.getcell("CHAN_FREQ", 0)
        np.testing.assert_allclose(d.getcell("CHAN_FREQ", 0), freqs.reshape(-1, 4).mean(axis=1))
        np.testing.assert_allclose(d.getcell("CHAN_WIDTH", 0), 4 * s.getcell("CHAN_WIDTH", 0)[::4])
        assert d.getcell("NUM_CHAN", 0) == freqs.size // 4
        assert d.getcell("TOTAL_BANDWIDTH", 0) == s.getcell("TOTAL_BANDWIDTH", 0)
    with tables.table(f"{out}/ANTENNA", ack=False) as ant:
        assert ant.nrows() == tables.table(f"{field['ms']}/ANTENNA", ack=False).nrows()


def test_a_factor_that_does_not_divide_is_refused(field: dict, tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="cannot average 64 channels"):
        average_ms(field["ms"], tmp_path / "avg.ms", 3, "DATA")


def _peaks(path: str, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """Brightest pixel within 1 pixel of each position."""
    from astropy.io import fits
    from astropy.wcs import WCS

    with fits.open(path) as hdul:
        image = np.squeeze(hdul[0].data)
        x, y = WCS(hdul[0].header).celestial.world_to_pixel_values(ra, dec)
    x, y = np.round(x).astype(int), np.round(y).astype(int)
    ny, nx = image.shape
    inside = (x >= 1) & (x < nx - 1) & (y >= 1) & (y < ny - 1)
    return np.array([
        np.nanmax(image[j - 1 : j + 2, i - 1 : i + 2]) if ok else np.nan
        for i, j, ok in zip(x, y, inside, strict=True)
    ])  # fmt: skip


@needs_wsclean
def test_averaged_image_loses_what_the_smearing_predicts(
    field: dict, imaged, tmp_path: Path
) -> None:
    """WSClean on the 2x averaged copy: each bright source keeps the peak our smearing formula predicts.

    The test array's channels are 2.9 MHz wide (12 of the real ones), so
    averaging two costs 1-6% at 0.3-1 deg: measured source by source
    against :func:`smearing_loss` at the source's radius and position angle
    (WSClean's image, not our model, is the truth here), the loss lies
    between the natural and the uniform weighting's (the bound
    :func:`channel_factor` budgets with). Positions and noise stay.
    """
    from dsa110_contimg.imaging.average import imaged_uv_lambda
    from dsa110_contimg.imaging.msinfo import read_ms_summary

    catalog = true_catalog(field["truth"], field["group"], 1.405e9)
    tier = scaled_tier(field["ms"]).model_copy(update={"average_channels": 2})
    result = image_ms(field["ms"], tmp_path, tier=tier, data_column="DATA", catalog=catalog)
    assert result.channel_factor == 2
    assert not list(tmp_path.glob("*.avg.ms")) and not list(tmp_path.glob(".*tmp"))
    ours, full = result.qa, imaged.qa
    assert ours["n_bright"] == full["n_bright"] > 0
    assert ours["astrometry_median_arcsec"] <= full["astrometry_median_arcsec"] + 0.5
    assert ours["rms_jy"] == pytest.approx(full["rms_jy"], rel=0.05)
    assert result.freq_hz == pytest.approx(imaged.freq_hz, rel=1e-6)

    # source by source: peak(averaged) / peak(all channels) against the prediction
    summary = read_ms_summary(field["ms"])
    ra0, dec0 = np.radians(summary.phase_ra_deg), np.radians(summary.phase_dec_deg)
    ra, dec = np.radians(catalog["ra_deg"]), np.radians(catalog["dec_deg"])
    l = np.cos(dec) * np.sin(ra - ra0)
    m = np.sin(dec) * np.cos(dec0) - np.cos(dec) * np.sin(dec0) * np.cos(ra - ra0)
    radius, angle = np.arcsin(np.hypot(l, m)), np.arctan2(l, m)
    full_peak = _peaks(imaged.products["image"], catalog["ra_deg"], catalog["dec_deg"])
    bright = np.nan_to_num(full_peak) > 50 * full["rms_jy"]
    assert bright.sum() >= 5
    avg_peak = _peaks(result.products["image"], catalog["ra_deg"], catalog["dec_deg"])
    measured = avg_peak[bright] / full_peak[bright]
    f0 = float(summary.freqs_hz.mean())  # the sources' own smearing is at their frequency
    width = float(np.median(summary.chan_width_hz)) / f0
    uv = imaged_uv_lambda(field["ms"], f0, tier.min_uv_lambda)
    band = float(summary.freqs_hz.max() / summary.freqs_hz.min())
    uniform = uniform_weights(uv, 1.0 / np.radians(tier.fov_deg), band)

    def kept(weights: np.ndarray | None) -> np.ndarray:
        return np.array([
            (1 - smearing_loss(uv, 2 * width, r, weights, position_angle_rad=a))
            / (1 - smearing_loss(uv, width, r, weights, position_angle_rad=a))
            for r, a in zip(radius[bright], angle[bright], strict=True)
        ])  # fmt: skip

    natural, bound = kept(None), kept(uniform)
    assert np.median(1 - measured) > 0.005  # the effect is there to be measured
    # Briggs 0.5 lies between natural and uniform weighting: so does the loss
    assert np.all(measured >= bound - 0.005), np.c_[measured, bound]
    assert np.all(measured <= natural + 0.005), np.c_[measured, natural]
