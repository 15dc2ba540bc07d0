"""The science sections of the settings: defaults, TOML, environment, validation, records."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsa110_contimg.calibration.select import (
    BANDPASS_VALIDITY_DAYS,
    EXPIRY_GRACE_DAYS,
    GAIN_VALIDITY_DAYS,
)
from dsa110_contimg.calibration.solve import SolveParams
from dsa110_contimg.calibration.tile import TileModelParams
from dsa110_contimg.config import Settings, load_settings
from dsa110_contimg.errors import ConfigError
from dsa110_contimg.flagging.flag import FlagParams
from dsa110_contimg.imaging.tiers import TIERS
from dsa110_contimg.photometry.forced import DEFAULT_FORCED_OPTIONS
from dsa110_contimg.photometry.records import DEFAULT_RULES
from dsa110_contimg.pipeline.context import RunOptions, recorded_settings, settings_hash
from dsa110_contimg.variability.candidates import DEFAULT_ESE_OPTIONS, PRESETS
from dsa110_contimg.variability.new_sources import DEFAULT_NEW_SOURCE_OPTIONS


def test_defaults_are_the_science_modules_defaults() -> None:
    """With no section given, every step gets exactly today's parameter objects."""
    s = Settings()
    assert s.photometry.rules() == DEFAULT_RULES
    assert s.photometry.forced() == DEFAULT_FORCED_OPTIONS
    for name, preset in PRESETS.items():
        built = s.variability.preset(name)
        assert (built.name, built.sigma, built.chi2_nu, built.eta) == (
            preset.name,
            preset.sigma,
            preset.chi2_nu,
            preset.eta,
        )
        assert (built.min_epochs, built.frac_floor) == (preset.min_epochs, preset.frac_floor)
        assert built.ese == DEFAULT_ESE_OPTIONS
    assert s.candidate_preset().name == "conservative"
    assert s.variability.new_source_options() == DEFAULT_NEW_SOURCE_OPTIONS
    assert s.flagging.params() == FlagParams()
    assert s.solve.params() == SolveParams()
    assert s.solve.tile_model_params() == TileModelParams()
    assert s.solve.validity_days == {"bandpass": BANDPASS_VALIDITY_DAYS, "gain": GAIN_VALIDITY_DAYS}
    assert s.solve.expiry_grace_days == EXPIRY_GRACE_DAYS
    assert s.imaging.tiers == {}


def test_sections_from_toml(tmp_path: Path) -> None:
    cfg = tmp_path / "dsa110.toml"
    cfg.write_text(
        "[photometry]\nupper_limit_snr = 4.0\n"
        "[photometry.normalisation]\nmin_snr = 30\n"
        "[variability.presets.moderate]\nsigma = 4.0\n"
        "[variability.ese]\nmin_duration_days = 10\n"
        "[flagging]\nmad_sigma = 6.5\n"
        "[solve]\ngain_minsnr = 4\nrefant_pads = [105, 106]\n"
        "[solve.tile_model]\nmax_sources = 100\n"
        "[imaging.tiers.standard]\nniter = 2000\n"
    )
    s = load_settings(cfg)
    assert s.photometry.upper_limit_snr == 4.0 and s.photometry.forced().upper_limit_snr == 4.0
    assert s.photometry.rules().min_snr == 30.0
    assert s.photometry.cutout_beams == 3.0  # the rest stays at its default
    moderate = s.variability.preset("moderate")
    assert (moderate.sigma, moderate.chi2_nu, moderate.frac_floor) == (4.0, 2.5, 0.015)
    assert moderate.ese.min_duration_days == 10.0
    assert s.variability.presets["sensitive"].sigma == 2.5
    assert s.flagging.params().mad_sigma == 6.5
    assert s.solve.params().gain_minsnr == 4.0
    assert s.solve.params().refant_pads == (105, 106)
    assert s.solve.tile_model_params().max_sources == 100
    assert s.imaging.overrides({}) == {"standard": {"niter": 2000}}


def test_sections_from_the_environment_over_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cfg = tmp_path / "dsa110.toml"
    cfg.write_text("[photometry]\nupper_limit_snr = 4.0\ncutout_beams = 4.0\n")
    monkeypatch.setenv("DSA110_PHOTOMETRY__UPPER_LIMIT_SNR", "3.5")
    monkeypatch.setenv("DSA110_PHOTOMETRY__NORMALISATION__MAX_REFERENCES", "12")
    monkeypatch.setenv("DSA110_VARIABILITY__PRESETS__CONSERVATIVE__ETA", "3.5")
    monkeypatch.setenv("DSA110_VARIABILITY__NEW_SOURCES__LIMIT_SIGMA", "6")
    monkeypatch.setenv("DSA110_SOLVE__BANDPASS_MINSNR", "7")
    monkeypatch.setenv("DSA110_FLAGGING__AOFLAGGER", "false")
    monkeypatch.setenv("DSA110_VARIABILITY_PRESET", "moderate")  # the flat setting still works
    s = load_settings(cfg)
    assert s.photometry.upper_limit_snr == 3.5  # the environment wins
    assert s.photometry.cutout_beams == 4.0  # the file's other value stays
    assert s.photometry.normalisation.max_references == 12
    assert s.variability.preset("conservative").eta == 3.5
    assert s.variability.preset("conservative").sigma == 5.0
    assert s.variability.new_source_options().limit_sigma == 6.0
    assert s.solve.params().bandpass_minsnr == 7.0
    assert s.flagging.params().aoflagger is False
    assert s.candidate_preset().name == "moderate"


@pytest.mark.parametrize(
    "text",
    [
        "[photometry]\nupper_limit_snr = 0\n",  # gt 0
        "[photometry]\nunstable_correlation = 1.5\n",  # le 1
        "[photometry.normalisation]\nmin_references = 0\n",
        "[photometry]\nupper_limt_snr = 5\n",  # a typo is an error, not ignored
        "[variability.presets.bold]\nsigma = 1\n",  # unknown preset
        "[variability.presets.moderate]\nfrac_floor = -0.1\n",
        "[flagging]\nantenna_limit = 2\n",
        "[solve]\ngain_validity_days = 0\n",
        "[imaging.tiers.standard]\nmgain = 2\n",  # checked as the tier model checks it
        "[imaging.tiers.huge]\nniter = 1\n",  # unknown tier
    ],
)
def test_bad_science_values_are_config_errors(tmp_path: Path, text: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match="invalid settings"):
        load_settings(cfg)


def test_bad_science_value_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSA110_SOLVE__MAX_ITER", "0")
    with pytest.raises(ConfigError, match="max_iter"):
        load_settings()


def test_sections_are_frozen() -> None:
    s = Settings()
    with pytest.raises(ValueError, match="frozen"):
        s.photometry.upper_limit_snr = 1.0  # type: ignore[misc]


def test_imaging_overrides_win_over_the_tier_file(tmp_path: Path) -> None:
    s = Settings(imaging={"tiers": {"standard": {"niter": 3000}}})
    merged = s.imaging.overrides({"standard": {"niter": 10, "mgain": 0.7}, "deep": {"niter": 5}})
    assert merged == {"standard": {"niter": 3000, "mgain": 0.7}, "deep": {"niter": 5}}
    assert TIERS["standard"].niter != 3000


def test_recorded_settings_and_their_hash() -> None:
    s = Settings()
    record = recorded_settings(s, "photometry", RunOptions(blind=True))
    assert set(record) == {"settings", "options", "settings_hash"}
    values = record["settings"]
    assert values["photometry"]["upper_limit_snr"] == 5.0
    assert values["photometry"]["normalisation"]["min_snr"] == 50.0
    assert values["variability"]["presets"]["conservative"]["sigma"] == 5.0
    assert values["variability_preset"] == "conservative"
    assert record["options"]["blind"] is True
    assert len(record["settings_hash"]) == 12
    assert record == recorded_settings(Settings(), "photometry", RunOptions(blind=True))
    changed = Settings(photometry={"upper_limit_snr": 4.0})
    other = recorded_settings(changed, "photometry", RunOptions(blind=True))
    assert other["settings_hash"] != record["settings_hash"]
    # a step records only the settings it depends on
    assert set(recorded_settings(s, "flag")["settings"]) == {"flagging"}
    assert recorded_settings(s, "convert")["settings"] == {}
    assert settings_hash({"a": 1, "b": 2}) == settings_hash({"b": 2, "a": 1})


def test_image_step_records_the_effective_tier() -> None:
    s = Settings(imaging={"tiers": {"quicklook": {"niter": 77}}})
    record = recorded_settings(s, "image", RunOptions(tier="quicklook"))
    imaging = record["settings"]["imaging"]
    assert imaging["tiers"] == {"quicklook": {"niter": 77}}
    assert imaging["tier"]["name"] == "quicklook" and imaging["tier"]["niter"] == 77
    assert record["settings"]["beam_model"] == "airy"


def test_the_tile_solves_channel_bin_is_a_setting() -> None:
    """``[solve.tile_model] bin_hz`` reaches the calibrate step's options (was a module constant)."""
    from dsa110_contimg.calibration.tile import TILE_BIN_HZ
    from dsa110_contimg.pipeline.steps.calibrate import CalibrateOptions

    assert Settings().solve.tile_model_params().bin_hz == TILE_BIN_HZ
    s = Settings(solve={"tile_model": {"bin_hz": 2.0e6}})
    assert CalibrateOptions.from_settings(s, RunOptions()).tile_model.bin_hz == 2.0e6
    with pytest.raises(ValueError, match="bin_hz"):
        Settings(solve={"tile_model": {"bin_hz": 0}})
