"""The visibility engine against a direct sum, and fringe stopping."""

from __future__ import annotations

import numpy as np

from dsa110_contimg.simulate.engine import direct_sum, predict
from dsa110_contimg.simulate.geometry import uvw_axes
from dsa110_contimg.telescope import dsa110_layout


def _setup(n_src: int = 4):
    rng = np.random.default_rng(7)
    layout = dsa110_layout()
    enu = layout.enu_m[layout.active_indices[::4]]  # 24 antennas over both arms and outriggers
    centre = np.array([0.0, -0.12, 1.0])
    centre /= np.linalg.norm(centre)
    axes = uvw_axes(centre)
    # sources within ~2 deg of the centre, in the (u, v) plane's directions
    lm = rng.uniform(-0.035, 0.035, (n_src, 2))
    n = np.sqrt(1 - (lm**2).sum(1))
    directions = lm @ axes[:2] + n[:, None] * axes[2]
    freqs = np.linspace(1.311e9, 1.499e9, 96)
    flux = rng.uniform(0.1, 5.0, (n_src, 1)) * (freqs / 1.4e9) ** -0.7
    i, j = np.triu_indices(len(enu))
    swap = rng.random(len(i)) < 0.25
    i, j = np.where(swap, j, i), np.where(swap, i, j)
    return enu, directions, centre, flux, freqs, i, j


def test_engine_agrees_with_direct_sum() -> None:
    enu, directions, centre, flux, freqs, i, j = _setup()
    fast = predict(enu, directions, centre, flux, freqs, i, j)
    slow = direct_sum(enu, directions, centre, flux, freqs, i, j)
    scale = flux.sum(0).max()  # total flux in one channel, Jy
    assert np.max(np.abs(fast - slow)) < 1e-5 * scale
    # the phase sign too: a conjugated sum would differ by O(1)
    assert np.max(np.abs(fast - np.conj(slow))) > 0.1 * scale


def test_swapped_baselines_are_conjugates() -> None:
    enu, directions, centre, flux, freqs, i, j = _setup()
    forward = predict(enu, directions, centre, flux, freqs, i, j)
    backward = predict(enu, directions, centre, flux, freqs, j, i)
    assert np.allclose(forward, np.conj(backward), atol=1e-5 * flux.sum(0).max())


def test_source_at_phase_centre_has_flat_phase() -> None:
    enu, _, centre, flux, freqs, i, j = _setup(1)
    vis = predict(enu, centre[None, :], centre, flux, freqs, i, j)
    assert np.allclose(vis.imag, 0, atol=1e-6)
    assert np.allclose(vis.real, flux[0][None, :], rtol=1e-6)
