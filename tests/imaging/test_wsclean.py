"""The WSClean command line, its failures and a missing installation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dsa110_contimg.errors import ConfigError, StageError, ToolMissingError
from dsa110_contimg.imaging import image_ms
from dsa110_contimg.imaging.tiers import TIERS, get_tier, load_tier_overrides, scale_tier
from dsa110_contimg.imaging.wsclean import run_wsclean, wsclean_command

from .conftest import needs_wsclean


def test_standard_tier_is_the_operating_pipelines_but_for_speed() -> None:
    cmd = wsclean_command(TIERS["standard"], "x.ms", "out/x", data_column="CORRECTED_DATA")
    line = " ".join(cmd)
    for part in (
        "-size 2400 2400", "-scale 6.0asec", "-weight briggs 0.5", "-niter 1000",
        "-threshold 0.005", "-minuv-l 1000.0", "-auto-mask 5.0", "-auto-threshold 1.0",
        "-mgain 0.9", "-pol I", "-use-wgridder -wgridder-accuracy 0.001",
        "-data-column CORRECTED_DATA", "-abs-mem",
    ):  # fmt: skip
        assert part in line, part
    assert cmd[-1] == "x.ms"
    assert TIERS["standard"].average_channels == "auto"  # the stage averages, not WSClean
    # with catalog positions: the same but cleaned to the thresholds inside their circles
    masked = " ".join(
        wsclean_command(TIERS["standard"], "x.ms", "p", data_column="DATA", mask_path="m.fits")
    )
    assert (
        "-fits-mask m.fits" in masked and "-niter 20000" in masked and "-niter 1000 " not in masked
    )
    assert "-auto-mask 5.0" in masked and "-threshold 0.005" in masked
    assert TIERS["standard"].max_smearing_loss == 0.01
    fast = get_tier("standard", {"standard": {"baseline_averaging_lambda": 10}})
    assert "-baseline-averaging 10.0" in " ".join(
        wsclean_command(fast, "x.ms", "p", data_column="DATA")
    )


def test_overrides_and_scaling(tmp_path: Path) -> None:
    toml = tmp_path / "tiers.toml"
    toml.write_text('[quicklook]\nniter = 50\nextra_args = ["-no-dirty"]\n')
    tier = get_tier("quicklook", load_tier_overrides(toml))
    assert tier.niter == 50 and tier.extra_args == ("-no-dirty",)
    with pytest.raises(ConfigError):
        get_tier("nonesuch", {})
    with pytest.raises(ConfigError):
        get_tier("standard", {"standard": {"niter": -1}})
    full = scale_tier(
        TIERS["standard"], max_baseline_m=2000, freq_min_hz=1.311e9, freq_max_hz=1.499e9
    )
    assert 5.5 < full.cell_arcsec < 6.5 and full.fov_deg > 3.9  # the operating pipeline's tile
    small = scale_tier(
        TIERS["standard"],
        max_baseline_m=400,
        freq_min_hz=1.311e9,
        freq_max_hz=1.499e9,
        max_size=512,
    )
    assert small.cell_arcsec > 25 and small.size == 512


@pytest.mark.parametrize("longest_m", [2000.0, 2601.6, 3500.0, 6000.0])
def test_scaling_keeps_the_field_whatever_the_cell(longest_m: float) -> None:
    """The standard tier's field (pb >= 0.2 at the band's bottom, 4.2 deg) on any array."""
    tier = scale_tier(
        TIERS["standard"],
        max_baseline_m=longest_m,
        freq_min_hz=1.311e9,
        freq_max_hz=1.499e9,
        max_size=2400,
    )
    resolution = np.degrees(0.2 / longest_m) * 3600
    assert tier.fov_deg >= 4.2  # the field never shrinks to save pixels
    assert tier.cell_arcsec <= resolution / 2  # and the beam stays sampled
    if tier.size > 2400:  # only when 2400 px cannot hold the field at half-beam cells
        assert tier.cell_arcsec >= np.floor(resolution / 2 * 10) / 10
    else:  # within the size cap: the finest cell that fits, as before up to 3.5/beam
        assert tier.cell_arcsec >= min(resolution / 3.5 - 0.1, 15120 / 2400)


def test_missing_wsclean_names_the_install_command(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError, match="apt-get install wsclean"):
        run_wsclean(TIERS["quicklook"], tmp_path / "x.ms", tmp_path / "x", data_column="DATA")


def test_missing_wsclean_through_the_stage(monkeypatch, field, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError, match="apt-get install wsclean"):
        image_ms(field["ms"], tmp_path / "out", tier="quicklook", data_column="DATA")
    assert not list((tmp_path / "out").glob("*"))  # nothing left behind


@needs_wsclean
def test_failure_names_the_log(field, tmp_path: Path) -> None:
    tier = get_tier("quicklook", {"quicklook": {"size": 64, "extra_args": ["-no-such-option"]}})
    with pytest.raises(StageError, match="wsclean failed") as info:
        run_wsclean(tier, field["ms"], tmp_path / "x", data_column="DATA")
    assert str(tmp_path / "x.wsclean.log") in str(info.value)


@needs_wsclean
def test_timeout_kills_wsclean(field, tmp_path: Path) -> None:
    tier = get_tier("standard", {"standard": {"timeout_s": 0.5}})
    with pytest.raises(StageError, match="exceeded"):
        run_wsclean(tier, field["ms"], tmp_path / "x", data_column="DATA")
