"""`dsa110 config show` prints the science sections, changed values included."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from dsa110_contimg.cli import main


def test_config_show_prints_the_science_sections() -> None:
    result = CliRunner().invoke(main, ["config", "show"])
    assert result.exit_code == 0, result.output
    for table in (
        "[photometry]",
        "[photometry.normalisation]",
        "[variability.presets.conservative]",
        "[variability.ese]",
        "[variability.new_sources]",
        "[flagging]",
        "[solve]",
        "[solve.tile_model]",
        "[imaging.tiers]",
    ):
        assert table in result.output
    shown = tomllib.loads(result.output)  # valid TOML (unset values left out)
    assert shown["photometry"]["upper_limit_snr"] == 5.0
    assert shown["variability"]["presets"]["moderate"]["sigma"] == 3.5
    assert "gain_solint_s" not in shown["solve"]  # unset: the whole group


def test_a_changed_value_is_visible(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[flagging]\nmad_sigma = 6.0\n[imaging.tiers.deep]\nniter = 20000\n")
    monkeypatch.setenv("DSA110_PHOTOMETRY__NORMALISATION__MIN_SNR", "40")
    runner = CliRunner()
    result = runner.invoke(main, ["--config", str(cfg), "config", "show"])
    assert result.exit_code == 0, result.output
    shown = tomllib.loads(result.output)
    assert shown["flagging"]["mad_sigma"] == 6.0
    assert shown["photometry"]["normalisation"]["min_snr"] == 40.0
    assert shown["imaging"]["tiers"]["deep"] == {"niter": 20000}
    result = runner.invoke(main, ["--config", str(cfg), "config", "show", "--json"])
    shown = json.loads(result.output)
    assert shown["flagging"]["mad_sigma"] == 6.0 and shown["solve"]["gain_solint_s"] is None
    assert shown["photometry"]["normalisation"]["min_snr"] == 40.0


def test_an_invalid_science_value_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSA110_PHOTOMETRY__UPPER_LIMIT_SNR", "-1")
    result = CliRunner().invoke(main, ["config", "show"])
    assert result.exit_code == 2
    assert "upper_limit_snr" in result.output and "Traceback" not in result.output
