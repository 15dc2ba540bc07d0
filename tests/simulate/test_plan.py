"""The observation plan: groups back to back on the correlator's grid, not locked to LST."""

import numpy as np

from dsa110_contimg.simulate import geometry
from dsa110_contimg.simulate.config import preset_config
from dsa110_contimg.simulate.run import calibrator_source, plan_groups
from dsa110_contimg.telescope import INTEGRATION_TIME_S


def _transit_offsets(cfg) -> tuple[np.ndarray, list]:
    cal = calibrator_source(cfg.calibrator)
    plans = plan_groups(cfg, cal)
    duration = cfg.n_integrations * INTEGRATION_TIME_S
    offsets = []
    for p in plans:
        if p.role != "calibrator":
            continue
        transit = geometry.transit_time(cal[1], cal[2], p.start)
        offsets.append(transit.unix - p.start.unix)
        assert -1.0 <= offsets[-1] <= duration + 1.0  # the transit lies inside its group
    return np.array(offsets), plans


def test_every_preset_drifts_against_the_sidereal_day() -> None:
    for name in ("test", "demo"):
        cfg = preset_config(name, n_integrations=24)  # the real 309.24 s group
        offsets, plans = _transit_offsets(cfg)
        # the grid is fixed in UTC and the transit comes a sidereal day later each day,
        # so it moves inside its group (modulo the group length) from epoch to epoch
        days = np.arange(offsets.size) * cfg.epoch_spacing_days
        expected = np.mod(offsets[0] + days * 86164.0905, 24 * INTEGRATION_TIME_S)
        np.testing.assert_allclose(offsets, expected, atol=2.0)
        assert np.ptp(offsets) > 60.0
        # and every group starts on the same grid from the origin
        origin = plans[0].start.unix
        steps = np.array([p.start.unix - origin for p in plans]) / (24 * INTEGRATION_TIME_S)
        np.testing.assert_allclose(steps, np.round(steps), atol=1.0 / 309.0)


def test_sidereal_locked_keeps_the_transit_centred() -> None:
    cfg = preset_config("test", sidereal_locked=True)
    offsets, _ = _transit_offsets(cfg)
    np.testing.assert_allclose(offsets, cfg.n_integrations * INTEGRATION_TIME_S / 2, atol=1.0)
