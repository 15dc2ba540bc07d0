"""Between transits the pipeline solves each group's gains against the catalog.

A target group 39 minutes after its calibrator transit has no valid transit
gain table (gains hold +-30 min) but a valid bandpass (+-12 h): the calibrate
stage solves its gains against the catalog sky model with that bandpass,
registers them as a gain table valid for the group alone, applies both, and
the image's fluxes agree with the catalog. With the policy off the group is
left uncalibrated, with the reason recorded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from dsa110_contimg.pipeline.runner import process_group
from dsa110_contimg.products import make_engine, make_session_factory, session_scope
from dsa110_contimg.products.models import (
    CalApplication,
    CalTable,
    Image,
    MeasurementSet,
    Photometry,
    Source,
)
from dsa110_contimg.simulate import preset_config, simulate

from .conftest import prepare_root

TARGET = 30  # 30 x 77 s after the transit


@pytest.fixture(scope="module")
def transit_and_late_target(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("tile-sim")
    cfg = preset_config("test", n_epochs=1, targets_per_epoch=TARGET, max_flux_jy=1.0)
    truth = simulate(cfg, out, groups=[0, TARGET])
    return out, truth


@pytest.mark.parametrize("tile_gains", [True, False])
def test_late_target_gets_tile_gains(tmp_path, transit_and_late_target, tile_gains):
    sim_dir, truth = transit_and_late_target
    settings = prepare_root(tmp_path / "root", sim_dir)
    settings = settings.model_copy(update={"tile_gains": tile_gains})  # the policy's setting
    factory = make_session_factory(make_engine(settings.db_url))
    cal_id, target_id = truth["groups"][0]["group_id"], truth["groups"][TARGET]["group_id"]
    options = {"tier": "quicklook"}
    assert process_group(settings, factory, cal_id, options=options)
    done = process_group(settings, factory, target_id, options=options)

    with session_scope(factory) as s:
        ms = s.scalars(sa.select(MeasurementSet).where(MeasurementSet.group_id == target_id)).one()
        applied = s.scalars(
            sa.select(CalTable).join(CalApplication).where(CalApplication.ms_id == ms.id)
        ).all()
        if not tile_gains:
            assert not done and not ms.cal_applied
            assert "no valid gain table" in ms.note
            return
        assert done and ms.cal_applied
        by_type = {t.table_type.value: t for t in applied}
        assert set(by_type) == {"bandpass", "gain"}
        gain, bandpass = by_type["gain"], by_type["bandpass"]
        assert gain.calibrator is None and gain.source_ms_path == str(Path(ms.path).resolve())
        assert (
            gain.valid_start_mjd >= ms.mjd_start - 1e-6 and gain.valid_end_mjd <= ms.mjd_end + 1e-6
        )
        assert bandpass.calibrator == "3C286"
        assert gain.qa_metrics["sky_model"]["n_sources"] >= 3
        # the calibrated fluxes of the bright sources against the simulator's truth
        rows = s.execute(
            sa.select(Source.name, Photometry.flux_jy, Photometry.snr, Image.freq_hz)
            .join(Photometry, Photometry.source_id == Source.id)
            .join(Image, Image.id == Photometry.image_id)
            .where(Image.ms_id == ms.id, Photometry.snr > 20)
        ).all()
    src = truth["sources"]
    index = {name: k for k, name in enumerate(src["name"])}
    true_1p4 = truth["groups"][TARGET]["true_flux_1p4_jy"]
    ratios = [
        flux / (true_1p4[index[name]] * (freq / 1.4e9) ** src["spectral_index"][index[name]])
        for name, flux, _, freq in rows
        if name in index
    ]
    print(gain.qa_metrics["sky_model"], np.round(ratios, 3))
    assert len(ratios) >= 3
    assert abs(np.median(ratios) - 1) < 0.05


def test_calibrate_command_solves_tile_gains(tmp_path, transit_and_late_target, monkeypatch):
    """`dsa110 calibrate MS` on a group left uncalibrated between transits."""
    from click.testing import CliRunner

    from dsa110_contimg.cli import main

    sim_dir, truth = transit_and_late_target
    settings = prepare_root(tmp_path / "root", sim_dir)
    factory = make_session_factory(make_engine(settings.db_url))
    cal_id, target_id = truth["groups"][0]["group_id"], truth["groups"][TARGET]["group_id"]
    options = {"tier": "quicklook"}
    assert process_group(settings, factory, cal_id, options=options)
    off = settings.model_copy(update={"tile_gains": False})
    assert not process_group(off, factory, target_id, options=options)  # waits, uncalibrated
    with session_scope(factory) as s:
        ms_path = s.scalars(
            sa.select(MeasurementSet.path).where(MeasurementSet.group_id == target_id)
        ).one()

    monkeypatch.setenv("DSA110_DATA_ROOT", str(settings.data_root))
    monkeypatch.setenv("DSA110_INCOMING_DIR", str(settings.incoming_dir))
    refused = CliRunner().invoke(main, ["calibrate", ms_path, "--no-tile-gains"])
    assert refused.exit_code == 6 and "left uncalibrated" in refused.output, refused.output
    result = CliRunner().invoke(main, ["calibrate", ms_path])
    assert result.exit_code == 0, result.output
    assert "tile gains:" in result.output and "CORRECTED_DATA from" in result.output

    with session_scope(factory) as s:
        ms = s.scalars(sa.select(MeasurementSet).where(MeasurementSet.path == ms_path)).one()
        applied = s.scalars(
            sa.select(CalTable).join(CalApplication).where(CalApplication.ms_id == ms.id)
        ).all()
        assert ms.cal_applied
        by_type = {t.table_type.value: t for t in applied}
        assert set(by_type) == {"bandpass", "gain"} and by_type["gain"].calibrator is None


def test_calibration_and_images_use_the_registered_beam(tmp_path, transit_and_late_target):
    """``beam_model = "measured"``: the transit's and the tile's sky models and the pb
    correction all take the registered model, and each product records which."""
    from dsa110_contimg.products import repositories as repo

    sim_dir, truth = transit_and_late_target
    settings = prepare_root(tmp_path / "root", sim_dir)
    settings = settings.model_copy(update={"beam_model": "measured"})
    factory = make_session_factory(make_engine(settings.db_url))
    with session_scope(factory) as s:
        model_id = repo.register_beam_model(
            s, kind="airy", fwhm_scale=1.1, profile={}, valid_from_mjd=0.0
        ).id
    options = {"tier": "quicklook"}
    for k in (0, TARGET):
        assert process_group(settings, factory, truth["groups"][k]["group_id"], options=options)
    with session_scope(factory) as s:
        tables = s.scalars(sa.select(CalTable)).all()
        images = s.scalars(sa.select(Image).where(Image.pbcor)).all()
        by_type = {}
        for t in tables:
            by_type.setdefault(t.table_type.value, []).append(t.qa_metrics["sky_model"])
        assert len(images) == 2 and {i.beam_model_id for i in images} == {model_id}
    (transit_bp,) = by_type["bandpass"]
    assert transit_bp["beam_model_id"] == model_id and "x1.1000" in transit_bp["beam_model"]
    assert len(by_type["gain"]) == 2  # the transit's and the tile's
    assert all("airy x1.1000 v1" in sky["beam_model"] for sky in by_type["gain"])
