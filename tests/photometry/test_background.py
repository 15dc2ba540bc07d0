"""The background / rms map against known noise."""

from __future__ import annotations

import numpy as np

from dsa110_contimg.photometry.background import background_rms_map


def test_rms_gradient_and_sources_and_blanking() -> None:
    rng = np.random.default_rng(2)
    ny, nx = 512, 640
    truth = 1e-3 * (1 + 2 * np.linspace(0, 1, nx))[None, :] * np.ones((ny, 1))
    image = rng.normal(size=(ny, nx)) * truth + 5e-4
    # bright compact sources on 1% of pixels must not bias the rms
    hot = rng.random((ny, nx)) < 0.01
    image[hot] += 0.5
    image[:100, :150] = np.nan
    background, rms = background_rms_map(image, box=64)
    inner = np.s_[100:-40, 160:-40]  # away from the blanked corner and the outer boxes
    assert np.all(np.isfinite(rms)) and np.all(np.isfinite(background))
    assert np.median(np.abs(rms[inner] / truth[inner] - 1)) < 0.05
    assert np.max(np.abs(rms[inner] / truth[inner] - 1)) < 0.15
    assert np.median(np.abs(background[inner] - 5e-4)) < 1e-4


def test_all_blank_gives_nan() -> None:
    _, rms = background_rms_map(np.full((100, 100), np.nan), box=32)
    assert np.all(np.isnan(rms))
