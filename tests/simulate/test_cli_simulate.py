"""`dsa110 simulate` end to end on a tiny configuration."""

from __future__ import annotations

import json

from click.testing import CliRunner

from dsa110_contimg.cli import main


def test_simulate_command(tmp_path) -> None:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text("n_antennas = 5\nn_epochs = 1\ntargets_per_epoch = 0\nn_integrations = 2\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["simulate", str(out), "--preset", "test", "--sim-config", str(cfg), "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    assert len(list((out / "incoming").glob("*_sb*.hdf5"))) == 16
    truth = json.loads((out / "truth.json").read_text())
    assert truth["config"]["seed"] == 3 and truth["config"]["n_antennas"] == 5


def test_simulate_bad_config_is_a_clear_error(tmp_path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("n_antenas = 5\n")
    result = CliRunner().invoke(main, ["simulate", str(tmp_path / "o"), "--sim-config", str(cfg)])
    assert result.exit_code == 2
    assert "n_antenas" in result.output and "Traceback" not in result.output
