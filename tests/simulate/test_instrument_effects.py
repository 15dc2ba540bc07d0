"""What the pipeline does not model: resolved sources, coherent RFI, dead antennas, lost files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dsa110_contimg.conversion.pyuvdata_path import read_group
from dsa110_contimg.simulate import load_sim_config, preset_config, simulate
from dsa110_contimg.simulate.config import CorrelatedRFI, StreamEffects
from dsa110_contimg.simulate.engine import direct_sum, predict_gaussian
from dsa110_contimg.simulate.geometry import baseline_uvw, uvw_axes
from dsa110_contimg.simulate.run import active_pads
from dsa110_contimg.telescope import SPEED_OF_LIGHT_M_S, dsa110_layout

ARCSEC = np.pi / 180 / 3600


def _array(n_step: int = 4):
    layout = dsa110_layout()
    enu = layout.enu_m[layout.active_indices[::n_step]]
    i, j = np.triu_indices(len(enu), 1)
    centre = np.array([0.0, -0.3, 1.0])
    return enu, i, j, centre / np.linalg.norm(centre)


def test_gaussian_amplitude_falls_with_baseline_as_its_transform() -> None:
    """A circular Gaussian at the phase centre: |V| = S exp(-2 pi^2 sigma^2 q^2)."""
    enu, i, j, centre = _array()
    freqs = np.array([1.32e9, 1.48e9])
    fwhm = 20 * ARCSEC
    flux = np.full((1, 2), 2.0)
    vis = predict_gaussian(
        enu, centre[None], centre, flux, freqs, i, j, np.array([[fwhm, fwhm, 0.3]])
    )
    uvw = baseline_uvw(enu, i, j, centre)
    q = np.hypot(uvw[:, 0], uvw[:, 1])[:, None] * freqs[None, :] / SPEED_OF_LIGHT_M_S
    sigma = fwhm / np.sqrt(8 * np.log(2))
    expected = 2.0 * np.exp(-2 * np.pi**2 * sigma**2 * q**2)
    np.testing.assert_allclose(np.abs(vis), expected, rtol=1e-4, atol=1e-6)
    assert expected.min() < 0.3 * expected.max()  # the longest baselines resolve it


def test_elliptical_gaussian_matches_a_sum_of_points() -> None:
    """Shape and position angle (east of north) against the brightness summed pixel by pixel."""
    enu, i, j, centre = _array(6)
    freqs = np.array([1.35e9, 1.45e9])
    major, minor, pa = 18 * ARCSEC, 8 * ARCSEC, np.radians(35.0)
    axes = uvw_axes(centre)
    step = 1.2 * ARCSEC
    grid = np.arange(-25, 26) * step
    l, m = (g.ravel() for g in np.meshgrid(grid, grid, indexing="ij"))
    along = l * np.sin(pa) + m * np.cos(pa)
    across = l * np.cos(pa) - m * np.sin(pa)
    brightness = np.exp(-4 * np.log(2) * ((along / major) ** 2 + (across / minor) ** 2))
    brightness /= brightness.sum()
    n = np.sqrt(1 - l**2 - m**2)
    directions = l[:, None] * axes[0] + m[:, None] * axes[1] + n[:, None] * axes[2]
    # the source sits 1 deg off the centre in both; shift the pixels with it
    offset = np.radians([0.7, -0.7])
    src = offset[0] * axes[0] + offset[1] * axes[1] + np.sqrt(1 - (offset**2).sum()) * axes[2]
    rot = _rotation(centre, src)
    points = direct_sum(
        enu, directions @ rot.T, centre, brightness[:, None] * np.ones(2), freqs, i, j
    )
    gauss = predict_gaussian(
        enu, src[None], centre, np.ones((1, 2)), freqs, i, j, np.array([[major, minor, pa]])
    )
    assert np.abs(points).min() < 0.5  # resolved on the long baselines
    np.testing.assert_allclose(gauss, points, atol=5e-3)
    # the same shape turned by 90 deg does not fit
    turned = predict_gaussian(
        enu, src[None], centre, np.ones((1, 2)), freqs, i, j, np.array([[major, minor, pa + 1.5]])
    )
    assert np.abs(turned - points).max() > 0.05


def _rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The rotation taking unit vector a to b (Rodrigues)."""
    v, c = np.cross(a, b), float(a @ b)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


def _noise_free(**overrides):
    base = dict(
        n_antennas=12,
        n_chan_per_subband=4,
        n_epochs=1,
        targets_per_epoch=0,
        sefd_jy=0.0,
        gains=False,
        rfi=False,
        n_flares=0,
        n_eses=0,
    )
    return preset_config("test", **{**base, **overrides})


def _read(out: Path, group: dict):
    uv = read_group([out / "incoming" / name for name in group["files"]])
    assert not uv.flag_array.any()  # nothing the simulator adds is flagged in the files
    order = np.argsort(uv.freq_array)
    return uv, uv.data_array[:, order]


def test_resolved_sources_in_a_simulation(tmp_path: Path) -> None:
    """One Gaussian field source: the visibilities lose (1 - taper) of it, per baseline."""
    common = dict(max_sources=1, resolved_major_arcsec=(15.0, 25.0))
    point_truth = simulate(_noise_free(**common), tmp_path / "point")
    truth = simulate(_noise_free(resolved_fraction=1.0, **common), tmp_path / "gauss")
    src = truth["sources"]
    assert src["ra_deg"] == point_truth["sources"]["ra_deg"]  # the same sky otherwise
    assert src["major_arcsec"][0] == 0  # the calibrator stays a point
    major, minor, pa = src["major_arcsec"][1], src["minor_arcsec"][1], src["pa_deg"][1]
    assert 15 <= major <= 25 and 0.4 * major <= minor <= major
    uv, gauss = _read(tmp_path / "gauss", truth["groups"][0])
    _, point = _read(tmp_path / "point", point_truth["groups"][0])
    # the file's own uvw (pyuvdata), in wavelengths, along and across the major axis
    freqs = np.sort(uv.freq_array)
    u = uv.uvw_array[:, 0, None] * freqs / SPEED_OF_LIGHT_M_S
    v = uv.uvw_array[:, 1, None] * freqs / SPEED_OF_LIGHT_M_S
    along = u * np.sin(np.radians(pa)) + v * np.cos(np.radians(pa))
    across = u * np.cos(np.radians(pa)) - v * np.sin(np.radians(pa))
    exponent = (major * ARCSEC * along) ** 2 + (minor * ARCSEC * across) ** 2
    taper = np.exp(-(np.pi**2) * exponent / (4 * np.log(2)))
    lost = np.abs(point - gauss)[..., 0]  # (Nblt, F) = S_app(t, f) (1 - taper)
    t_index = np.searchsorted(np.unique(uv.time_array), uv.time_array)
    # one apparent flux per integration and channel, whatever the baseline
    for t in np.unique(t_index):
        for f in range(len(freqs)):
            rows = (t_index == t) & ((1 - taper[:, f]) > 0.2)
            assert rows.sum() >= 10
            s_app = lost[rows, f] / (1 - taper[rows, f])
            assert s_app.mean() > 1e-3
            assert np.ptp(s_app) < 0.01 * s_app.mean()


def test_correlated_rfi_only_where_the_truth_says(tmp_path: Path) -> None:
    rfi = CorrelatedRFI(
        enabled=True,
        freq_mhz=1400.0,
        n_channels=2,
        first_integration=1,
        n_integrations=3,
        amplitude_jy=5.0,
        groups=(1,),
    )
    clean_truth = simulate(_noise_free(targets_per_epoch=1), tmp_path / "clean")
    truth = simulate(_noise_free(targets_per_epoch=1, correlated_rfi=rfi), tmp_path / "rfi")
    for k, group in enumerate(truth["groups"]):
        uv, dirty = _read(tmp_path / "rfi", group)
        _, clean = _read(tmp_path / "clean", clean_truth["groups"][k])
        added = (dirty - clean)[..., 0]  # (Nblt, F)
        amp = np.load(tmp_path / "rfi" / "truth" / f"{group['group_id']}.npz")["correlated_rfi_jy"]
        t_index = np.searchsorted(np.unique(uv.time_array), uv.time_array)
        where = amp[t_index] > 0  # (Nblt, F)
        if k == 0:
            assert not amp.any() and np.abs(added).max() == 0
            continue
        assert (amp > 0).sum(axis=1).tolist() == [0, 2, 2, 2, 0, 0]  # channels per integration
        peak = amp.max(axis=1)
        assert peak[2] == pytest.approx(5.0) and peak[1] == pytest.approx(2.5)  # it varies
        assert np.abs(added[~where]).max() < 1e-5
        # every baseline carries it at the same amplitude: one coherent emitter
        np.testing.assert_allclose(np.abs(added[where]), amp[t_index][where], rtol=1e-4)
        # with its own fringe: phases spread over baselines, closure phases zero
        cross = uv.ant_1_array != uv.ant_2_array
        chan = int(np.flatnonzero(amp[2])[0])
        rows = cross & (t_index == 2)
        phase = np.angle(added[rows, chan])
        assert np.std(phase) > 1.0
        assert _closure_phase_rms(uv, rows, added[:, chan]) < 1e-3


def _closure_phase_rms(uv, rows: np.ndarray, vis: np.ndarray) -> float:
    table = {}
    for r in np.flatnonzero(rows):
        a, b = int(uv.ant_1_array[r]), int(uv.ant_2_array[r])
        table[(a, b)], table[(b, a)] = vis[r], np.conj(vis[r])
    ants = sorted({a for a, _ in table})
    closures = [
        np.angle(table[(a, b)] * table[(b, c)] * table[(c, a)])
        for a, b, c in zip(ants, ants[1:], ants[2:], strict=False)
    ]
    return float(np.sqrt(np.mean(np.square(closures))))


@pytest.mark.parametrize("mode", ["noise", "zero"])
def test_dead_antenna_is_unflagged_noise_or_zeros(tmp_path: Path, mode: str) -> None:
    pad = int(active_pads(12)[3]) + 1  # dead_antennas counts pads from 1, the files from 0
    cfg = _noise_free(
        sefd_jy=5000.0, dead_antenna_mode=mode, n_integrations=12, dead_antennas=(pad,)
    )
    truth = simulate(cfg, tmp_path)
    dead = pad - 1
    assert truth["dead_antenna_numbers"] == [dead]
    uv, data = _read(tmp_path, truth["groups"][0])
    on_dead = (uv.ant_1_array == dead) | (uv.ant_2_array == dead)
    cross = uv.ant_1_array != uv.ant_2_array
    sigma = truth["noise_sigma_jy"]
    assert np.abs(data[cross & ~on_dead]).mean() > 10 * sigma  # the sky is there
    if mode == "zero":
        assert np.all(data[on_dead] == 0)
        return
    noise = data[cross & on_dead]
    assert noise.real.std() == pytest.approx(sigma, rel=0.1)
    assert noise.imag.std() == pytest.approx(sigma, rel=0.1)
    # no sky in it: its mean is what noise alone gives
    assert np.abs(noise.mean(axis=0)).max() < 5 * sigma / np.sqrt(len(noise))


def test_a_subband_missing_in_some_groups(tmp_path: Path) -> None:
    lost = ((0, 4), (2, 4), (2, 11))
    cfg = _noise_free(
        n_antennas=6, targets_per_epoch=2, stream=StreamEffects(missing_subbands=lost)
    )
    truth = simulate(cfg, tmp_path)
    incoming = tmp_path / "incoming"
    expected = sorted(truth["groups"][g]["files"][sb] for g, sb in lost)
    assert truth["missing_files"] == expected
    present = {p.name for p in incoming.iterdir()}
    for group in truth["groups"]:
        for name in group["files"]:
            assert (name in present) == (name not in expected)
    assert len(present) == 16 * 3 - 3
    # named in a TOML file as arrays of pairs
    toml = tmp_path / "sim.toml"
    toml.write_text("[stream]\nmissing_subbands = [[1, 3], [5, 3]]\n")
    assert load_sim_config("test", toml).stream.missing_subbands == ((1, 3), (5, 3))
