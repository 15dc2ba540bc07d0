"""The truth beside the data: sky, variability, catalog, presets."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from dsa110_contimg.errors import ConfigError
from dsa110_contimg.simulate import load_sim_config
from dsa110_contimg.simulate.config import ESEParams, FlareParams
from dsa110_contimg.simulate.run import CATALOG_COLUMNS
from dsa110_contimg.simulate.sky import ese_factor, flare_factor


def test_variability_per_epoch(test_dataset) -> None:
    _, truth = test_dataset
    kinds = np.array(truth["sources"]["kind"])
    flux = np.array([g["true_flux_1p4_jy"] for g in truth["groups"]])  # (groups, sources)
    mean = np.array(truth["sources"]["flux_1p4_jy"])
    steady = kinds == "steady"
    assert np.allclose(flux[:, steady], mean[steady])
    assert (kinds == "flare").sum() == 1 and (kinds == "ese").sum() == 1
    for kind in ("flare", "ese"):
        k = int(np.flatnonzero(kinds == kind)[0])
        assert flux[:, k].std() > 0.05 * mean[k]
    # groups of one epoch share the epoch's flux
    epochs = np.array([g["epoch"] for g in truth["groups"]])
    for e in np.unique(epochs):
        assert np.allclose(flux[epochs == e], flux[epochs == e][0])


def test_ese_and_flare_shapes() -> None:
    ese = ESEParams(depth=0.6, centre_day=20, duration_days=10, caustic_amplitude=0.3)
    assert abs(ese_factor(20, ese) - 0.4) < 0.02  # the dip
    assert ese_factor(15, ese) > 1.0 and ese_factor(25, ese) > 1.0  # caustics at the edges
    assert abs(ese_factor(-40, ese) - 1) < 1e-6 and abs(ese_factor(80, ese) - 1) < 1e-6
    flare = FlareParams(amplitude=2.0, peak_day=5, width_days=1)
    assert flare_factor(5, flare) == pytest.approx(3.0)
    assert flare_factor(30, flare) == pytest.approx(1.0)


def test_catalog_file(test_dataset) -> None:
    out, truth = test_dataset
    with open(out / "catalog.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == CATALOG_COLUMNS
    assert [r["name"] for r in rows] == truth["sources"]["name"]
    flux = np.array([float(r["flux_mjy"]) for r in rows]) / 1e3
    err = np.array([float(r["flux_err_mjy"]) for r in rows]) / 1e3
    true = np.array(truth["sources"]["flux_1p4_jy"])
    pulls = (flux - true) / err
    assert np.all(np.abs(pulls) < 5) and np.std(pulls) > 0.3  # catalog-like errors, not exact
    ra = np.array([float(r["ra_deg"]) for r in rows])
    offset = (
        (ra - np.array(truth["sources"]["ra_deg"]))
        * 3600
        * np.cos(np.radians(truth["sources"]["dec_deg"]))
    )
    assert 0 < np.abs(offset).max() < 6


def test_presets_and_overrides(tmp_path) -> None:
    full = load_sim_config("full")
    assert (full.n_antennas, full.n_chan_per_subband, full.n_integrations) == (96, 48, 24)
    cfg_file = tmp_path / "sim.toml"
    cfg_file.write_text("n_epochs = 2\nseed = 5\n[ese]\ndepth = 0.5\n")
    cfg = load_sim_config("demo", cfg_file)
    assert (cfg.n_epochs, cfg.seed, cfg.ese.depth, cfg.n_antennas) == (2, 5, 0.5, 48)
    with pytest.raises(ConfigError):
        load_sim_config("nope")
    with pytest.raises(ConfigError):
        load_sim_config("test", n_chan_per_subband=5)
