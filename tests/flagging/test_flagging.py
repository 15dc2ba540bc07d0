"""Flagging finds injected RFI and leaves clean data alone."""

from __future__ import annotations

import numpy as np
import pytest

from dsa110_contimg.flagging import FlagParams, flag_visibilities
from dsa110_contimg.flagging.arrays import (
    drop_bad_antennas,
    extend_flags,
    flag_invalid,
    mad_clip,
)

SIGMA = 2.6  # Jy: SEFD 6500 Jy, 244 kHz, 12.9 s


def _sky(seed=0, n_ant=16, n_times=24, n_chan=384):
    """Point source (10 Jy) x smooth gains + noise; baselines incl. autos."""
    rng = np.random.default_rng(seed)
    a1, a2 = np.triu_indices(n_ant)
    x = (np.arange(n_chan) % 48 + 0.5) / 48
    bandpass = 1 - 0.3 * (2 * x - 1) ** 8
    g = rng.uniform(0.8, 1.2, (n_ant, 1, 2)) * bandpass[None, :, None]
    g = g * np.exp(1j * rng.uniform(-np.pi, np.pi, (n_ant, 1, 2)))
    vis = np.broadcast_to(10 * g[a1] * np.conj(g[a2]), (n_times, len(a1), n_chan, 2)).copy()
    noise = rng.standard_normal((*vis.shape, 2)) @ np.array([1, 1j]) * SIGMA / np.sqrt(2)
    vis += noise
    return vis.astype(np.complex64), a1, a2, rng


def _inject_rfi(vis, rng, a1, a2):
    """Narrow-band lines, broadband bursts and short narrow-band bursts; returns the mask."""
    mask = np.zeros(vis.shape, bool)
    cross = a1 != a2
    for chan in (40, 141, 142, 300):  # persistent lines (one two channels wide)
        mask[:, cross, chan] = True
    for t in (6, 17):  # broadband bursts in single integrations
        mask[t, cross] = True
    mask[10:13, cross, 200:204] = True  # a short narrow-band burst
    amp = rng.uniform(8, 60, vis.shape) * SIGMA
    vis += np.where(mask, amp * np.exp(1j * rng.uniform(0, 2 * np.pi, vis.shape)), 0).astype(
        vis.dtype
    )
    return mask


@pytest.fixture(scope="module")
def rfi_case(require_tool):
    require_tool("aoflagger")
    vis, a1, a2, rng = _sky()
    mask = _inject_rfi(vis, rng, a1, a2)
    result = flag_visibilities(vis, None, a1, a2)
    return vis, mask, a1, a2, result


def test_rfi_flagged_clean_data_kept(rfi_case):
    _, mask, a1, a2, result = rfi_case
    cross = a1 != a2
    flags, rfi = result.flags[:, cross], mask[:, cross]
    assert flags[rfi].mean() >= 0.95  # >= 95 % of the RFI mask
    assert flags[~rfi].mean() < 0.05  # < 5 % of the clean data
    assert result.flags[:, ~cross].all()  # autocorrelations
    assert result.dropped_antennas == []


def test_qa_fractions(rfi_case):
    _, _, a1, a2, result = rfi_case
    fr = result.fractions
    assert set(fr.per_antenna) == set(range(16))
    assert fr.per_channel.shape == (384,) and fr.per_polarization.shape == (2,)
    assert fr.per_channel[40] == 1.0 and fr.per_channel[100] < 0.2
    qa = result.qa()
    assert 0 < qa["total"] < 0.2 and "aoflagger" in qa["steps"]
    line = result.summary()  # the flag step's job log line
    assert line.startswith(f"{100 * qa['total']:.2f}% flagged")
    assert "aoflagger +" in line and "none dropped" in line
    whole = int((fr.per_channel >= 1.0).sum())
    assert whole >= 1 and f"{whole}/384 channels flagged whole" in line


def test_mad_clip_alone_finds_lines_and_bursts():
    vis, a1, a2, rng = _sky(seed=3)
    mask = _inject_rfi(vis, rng, a1, a2)
    cross = a1 != a2
    flags = mad_clip(vis[:, cross], np.zeros(vis[:, cross].shape, bool), sigma=7.0)
    rfi = mask[:, cross]
    assert flags[rfi].mean() > 0.9
    assert flags[~rfi].mean() < 0.001  # a 7-sigma clip hardly touches Gaussian noise


def test_invalid_extension_and_antenna_drop():
    vis = np.ones((4, 3, 10, 2), np.complex64)
    vis[0, 0, 0, 0] = 0
    vis[1, 1, 2, 1] = np.nan
    assert flag_invalid(vis).sum() == 2

    flags = np.zeros((4, 3, 10, 2), bool)
    flags[:3, 0, 5, 0] = True  # 3 of 4 integrations of channel 5: whole channel
    flags[2, 1, 1, 1] = True  # a single sample: dilated by one channel
    out = extend_flags(flags, channel_fraction=0.5, dilate_channels=1)
    assert out[:, 0, 5, 0].all()
    assert out[2, 1, 0:3, 1].all() and not out[2, 1, 3, 1]

    a1, a2 = np.array([0, 0, 1]), np.array([1, 2, 2])
    flags = np.zeros((4, 3, 10, 2), bool)
    flags[:, :2] = True  # antenna 0: all its baselines flagged
    out, dropped = drop_bad_antennas(flags, a1, a2, limit=0.95)
    assert dropped == [0] and not out[:, 2].any()


@pytest.mark.requires("aoflagger")
def test_flag_ms_round_trip(tmp_path):
    from casacore.tables import table

    from dsa110_contimg.calibration.synthetic import make_synthetic_ms
    from dsa110_contimg.flagging import flag_ms

    ms = tmp_path / "f.ms"
    make_synthetic_ms(ms, n_chan=96, n_times=8, noise_sigma=SIGMA, seed=2)
    with table(str(ms), readonly=False, ack=False) as tb:
        data = tb.getcol("DATA")
        data[:, 30] += 500  # a strong line in every row
        tb.putcol("DATA", data)
    result = flag_ms(ms, FlagParams())
    with table(str(ms), ack=False) as tb:
        flag, a1, a2 = tb.getcol("FLAG"), tb.getcol("ANTENNA1"), tb.getcol("ANTENNA2")
    cross = a1 != a2
    assert flag[cross, 30].all() and flag[~cross].all()
    assert flag[cross].mean() < 0.1
    assert result.fractions.per_channel[30] == 1.0


@pytest.mark.requires("aoflagger")
def test_flag_ms_any_row_order(tmp_path):
    """A baseline-major MS (not the cube's row order) gets the same flags, row by row."""
    from casacore.tables import table

    from dsa110_contimg.calibration.synthetic import make_synthetic_ms
    from dsa110_contimg.flagging import flag_ms

    ms = tmp_path / "time_major.ms"
    make_synthetic_ms(ms, n_chan=48, n_times=6, noise_sigma=SIGMA, seed=4)
    with table(str(ms), readonly=False, ack=False) as tb:
        data = tb.getcol("DATA")
        data[::7, 11] += 400  # a line in some rows
        tb.putcol("DATA", data)
        tb.sort("ANTENNA1, ANTENNA2, TIME").copy(str(tmp_path / "bl_major.ms"), deep=True)
    results = {}
    for name in ("time_major", "bl_major"):
        flag_ms(tmp_path / f"{name}.ms")
        with table(str(tmp_path / f"{name}.ms"), ack=False) as tb:
            key = np.lexsort([tb.getcol("TIME"), tb.getcol("ANTENNA2"), tb.getcol("ANTENNA1")])
            results[name] = tb.getcol("FLAG")[key]
    assert results["time_major"][:, 11].mean() > 0.1
    np.testing.assert_array_equal(results["time_major"], results["bl_major"])


@pytest.mark.requires("aoflagger")
def test_flag_ms_on_simulated_group(tmp_path):
    """The simulator's RFI (lines and a burst, 30 sigma rms) found, clean data kept.

    A group of the instrument's shape (768 channels, 24 integrations) on 12
    antennas: the strategy is tuned for that shape (the `test` preset's 64
    channels x 6 integrations are too few for a median over time).
    """
    from casacore.tables import table

    from dsa110_contimg.conversion.convert import convert_group
    from dsa110_contimg.flagging import flag_ms
    from dsa110_contimg.simulate import preset_config, simulate

    cfg = preset_config("test", n_epochs=1, n_antennas=12, n_chan_per_subband=48, n_integrations=24)
    truth = simulate(cfg, tmp_path / "sim", groups=[0])
    group = truth["groups"][0]
    ms = tmp_path / "group.ms"
    convert_group([tmp_path / "sim" / "incoming" / f for f in group["files"]], ms)
    rfi = np.load(tmp_path / "sim" / "truth" / f"{group['group_id']}.npz")["rfi_mask"]
    with table(str(ms / "SPECTRAL_WINDOW"), ack=False) as spw:
        assert np.all(np.diff(spw.getcol("CHAN_FREQ")[0]) > 0)  # ascending, as the truth
    flag_ms(ms)
    with table(str(ms), ack=False) as tb:
        flag, t = tb.getcol("FLAG"), tb.getcol("TIME")
        cross = tb.getcol("ANTENNA1") != tb.getcol("ANTENNA2")
    hit = rfi[np.unique(t, return_inverse=True)[1]][:, :, None] & cross[:, None, None]
    clean = ~hit & cross[:, None, None]
    assert hit.sum() > 0
    assert flag[np.broadcast_to(hit, flag.shape)].mean() >= 0.95
    assert flag[np.broadcast_to(clean, flag.shape)].mean() < 0.05
