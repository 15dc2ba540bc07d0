"""Candidate presets built from the settings carry their thresholds and ESE options."""

from __future__ import annotations

import numpy as np

from dsa110_contimg.config import Settings
from dsa110_contimg.variability.candidates import evaluate_candidates
from dsa110_contimg.variability.metrics import MetricsState, update_batch


def _five_day_dip() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One daily light curve with a 40% dip of 5 days (an ESE only if 5 days may be one)."""
    rng = np.random.default_rng(8)
    days = np.arange(60.0)
    flux = 1.0 - 0.4 * ((days >= 30) & (days < 35)) + rng.normal(0, 0.01, days.size)
    return 60000.0 + days, flux, np.full(days.size, 0.01)


def _kinds(settings: Settings) -> list[str]:
    mjd, flux, err = _five_day_dip()
    preset = settings.candidate_preset()
    state = MetricsState.empty(1)
    update_batch(state, np.zeros(mjd.size, np.int64), flux, err, mjd, preset.frac_floor)
    return [r.kind for r in evaluate_candidates(state, lambda i: (mjd, flux, err), preset)]


def test_the_settings_ese_options_decide_the_kind() -> None:
    assert _kinds(Settings()) == ["variable"]  # shorter than the 7 days an ESE needs
    assert _kinds(Settings(variability={"ese": {"min_duration_days": 3.0}})) == ["ese"]


def test_the_settings_thresholds_decide_the_selection() -> None:
    strict = {"presets": {"conservative": {"sigma": 1e6}}}
    assert _kinds(Settings(variability=strict)) == []
