"""The forced photometry's thresholds come as one record, built from ``settings.photometry``."""

from __future__ import annotations

import numpy as np
from photometry_sims import add_sources, make_wcs

from dsa110_contimg.config import Settings
from dsa110_contimg.photometry.beam import Beam
from dsa110_contimg.photometry.flags import PhotFlag
from dsa110_contimg.photometry.forced import DEFAULT_FORCED_OPTIONS, forced_photometry

BEAM = Beam(30 / 3600, 18 / 3600, 30.0)  # 5 x 3 pixels at 6 arcsec
RMS = 2e-3


def _measure(x: list[float], flux: list[float], **kwargs):
    wcs = make_wcs(200)
    ra, dec = wcs.wcs_pix2world(x, [100.0] * len(x), 0)
    image = np.zeros((200, 200))
    add_sources(image, wcs, BEAM, ra, dec, np.array(flux))
    rms = np.full(image.shape, RMS)
    return forced_photometry(image, wcs, BEAM, ra, dec, rms_map=rms, **kwargs)


def test_default_record_is_the_functions_defaults() -> None:
    res = _measure([100.0, 100.8], [0.1, 0.1])
    again = _measure([100.0, 100.8], [0.1, 0.1], **DEFAULT_FORCED_OPTIONS.kwargs())
    assert np.array_equal(res.flags, again.flags) and np.array_equal(res.flux_jy, again.flux_jy)


def test_unstable_correlation_from_the_settings() -> None:
    """A pair 0.8 px apart: correlated above 0.9 (unseparable) but below 0.99."""
    default = _measure([100.0, 100.8], [0.1, 0.1], **Settings().photometry.forced().kwargs())
    assert np.all(default.flags & PhotFlag.UNSTABLE_BLEND)
    looser = Settings(photometry={"unstable_correlation": 0.99}).photometry.forced()
    res = _measure([100.0, 100.8], [0.1, 0.1], **looser.kwargs())
    assert not np.any(res.flags & PhotFlag.UNSTABLE_BLEND)
    assert np.all(res.flags & PhotFlag.BLENDED)  # still closer than blend_beams


def test_upper_limit_snr_from_the_settings() -> None:
    """A 4-sigma source: an upper limit at the default 5, a detection at 3."""
    faint = 4 * RMS
    res = _measure([100.0], [faint], **Settings().photometry.forced().kwargs())
    snr = float(res.snr[0])
    assert 3 < snr < 5 and res.is_upper_limit[0]
    lower = Settings(photometry={"upper_limit_snr": 3.0}).photometry.forced()
    assert not _measure([100.0], [faint], **lower.kwargs()).is_upper_limit[0]
