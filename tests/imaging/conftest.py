"""A simulated target field (unit gains: data in Jy), its MS and one standard-tier image.

The field: the ``test`` preset (24 antennas, 64 channels, 6 integrations)
pointed 6 deg away from the calibrator (near the Airy pattern's second
null, so the 15 Jy calibrator adds nothing), with the sky confined to
0.6 deg of the strip so that every source lies inside the 1.75 deg test
image: sources outside an image leave their sidelobes uncleaned, which with
24 antennas and 77 s would dominate the noise (the pipeline's full-beam
tiles do not have that problem).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dsa110_contimg.conversion.convert import convert_group
from dsa110_contimg.imaging import get_tier, image_ms, scale_tier
from dsa110_contimg.imaging.msinfo import read_ms_summary
from dsa110_contimg.simulate import preset_config, simulate

needs_wsclean = pytest.mark.requires("wsclean")

#: Image side of the test tiles, pixels (the scaled standard tier would take ~4000).
TEST_SIZE = 1800


@pytest.fixture(scope="session")
def field(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The simulated target group converted to an MS: paths, truth and the group record."""
    out = tmp_path_factory.mktemp("img-sim")
    cfg = preset_config(
        "test",
        gains=False,
        rfi=False,
        n_epochs=1,
        targets_per_epoch=1,
        pointing_offset_deg=6.0,
        sky_radius_deg=0.6,
        density_per_deg2=12.0,
    )
    truth = simulate(cfg, out, groups=[1])
    group = truth["groups"][1]
    ms = out / "target.ms"
    convert_group([out / "incoming" / name for name in group["files"]], ms)
    return {"ms": ms, "truth": truth, "group": group, "dir": out}


def true_catalog(truth: dict, group: dict, freq_hz: float) -> dict[str, np.ndarray]:
    """True positions and fluxes at ``freq_hz`` (the 1.4 GHz flux of the group's day)."""
    src = truth["sources"]
    alpha = np.asarray(src["spectral_index"])
    flux = np.asarray(group["true_flux_1p4_jy"]) * (freq_hz / 1.4e9) ** alpha
    return {
        "ra_deg": np.asarray(src["ra_deg"]),
        "dec_deg": np.asarray(src["dec_deg"]),
        "flux_jy": flux,
    }


def scaled_tier(ms: Path, name: str = "standard", size: int = TEST_SIZE):
    """A tier scaled to the MS's array and band, cut to ``size`` pixels.

    The pipeline keeps the whole field and coarsens the cell instead
    (:func:`scale_tier`); the tests keep the full-resolution cell and image
    the central ``size`` pixels, which hold every simulated source.
    """
    s = read_ms_summary(ms)
    tier = scale_tier(
        get_tier(name, {}),
        max_baseline_m=s.max_baseline_m,
        freq_min_hz=float(s.freqs_hz.min()),
        freq_max_hz=float(s.freqs_hz.max()),
    )
    return tier.model_copy(update={"size": min(tier.size, size)})


@pytest.fixture(scope="session")
def imaged(field: dict, tmp_path_factory: pytest.TempPathFactory, require_tool):
    """The field imaged (DATA) with the scaled standard tier, QA'd against the truth."""
    require_tool("wsclean")
    catalog = true_catalog(field["truth"], field["group"], 1.405e9)
    out = tmp_path_factory.mktemp("img-out")
    return image_ms(
        field["ms"], out, tier=scaled_tier(field["ms"]), data_column="DATA", catalog=catalog
    )


@pytest.fixture(scope="session")
def calibrated_field(tmp_path_factory: pytest.TempPathFactory, require_tool) -> dict:
    """A target group calibrated the pipeline's way, imaged from CORRECTED_DATA.

    One epoch of the ``test`` preset with the simulator's gains, bandpasses
    and drifts on, and its RFI: the calibrator transit (group 0) is flagged,
    modelled, solved and written as tables; the tables are selected for a
    target group of the same strip 77 minutes later (group 60) and applied;
    the target is flagged and imaged with the scaled standard tier.

    Two choices keep the comparison with thermal noise about calibration,
    not about the 24-antenna, 77-second test array's dynamic range: the
    target is far from 3C286 (16.6 deg: the 15 Jy calibrator's Airy
    sidelobes still leave 1.7x thermal in a unit-gain image 11 deg away),
    with the gain tables' validity set to 3 h (+-1.5 h, a table option);
    and the sky is capped at 0.5 Jy (a 1.2 Jy source leaves 1.5x thermal
    after 1000 iterations even with unit gains).
    """
    require_tool("wsclean")
    from dsa110_contimg.calibration import (
        PointSource,
        TableCandidate,
        apply_ms,
        caltable_records,
        read_info,
        select_tables,
        solve_ms,
        write_model_ms,
        write_solutions,
    )
    from dsa110_contimg.catalog.calibrators import primary_calibrators
    from dsa110_contimg.flagging import flag_ms

    out = tmp_path_factory.mktemp("img-cal")
    target = 60
    cfg = preset_config(
        "test",
        n_epochs=1,
        targets_per_epoch=target,
        sky_radius_deg=0.6,
        density_per_deg2=12.0,
        max_flux_jy=0.5,
    )
    truth = simulate(cfg, out, groups=[0, target])
    ms = {}
    for index in (0, target):
        group = truth["groups"][index]
        path = out / f"group{index}.ms"
        result = convert_group([out / "incoming" / name for name in group["files"]], path)
        flag_ms(path)
        ms[index] = (path, result)

    cal_ms, cal_conv = ms[0]
    (cal,) = [c for c in primary_calibrators() if c.name == cfg.calibrator]
    write_model_ms(
        cal_ms, [PointSource.from_calibrator(cal)], pointing_dec_deg=cal_conv.pointing_dec_deg
    )
    solution = solve_ms(cal_ms, pointing_dec_deg=cal_conv.pointing_dec_deg)
    paths = write_solutions(solution, cal_ms)
    records = caltable_records(
        solution, paths, read_info(cal_ms), cal.name, validity_days={"gain": 3 / 24}
    )
    candidates = [
        TableCandidate(
            r["path"], r["table_type"], r["valid_start_mjd"], r["valid_end_mjd"], r["dec_deg"]
        )
        for r in records
    ]
    target_ms, target_conv = ms[target]
    selection = select_tables(candidates, target_conv.mjd_mid, target_conv.pointing_dec_deg)
    assert selection.ok, selection.reason
    apply_ms(target_ms, selection.paths)

    group = truth["groups"][target]
    catalog = true_catalog(truth, group, 1.405e9)
    imaged = image_ms(
        target_ms,
        tmp_path_factory.mktemp("img-cal-out"),
        tier=scaled_tier(target_ms),
        data_column="CORRECTED_DATA",
        catalog=catalog,
    )
    return {"ms": target_ms, "truth": truth, "group": group, "imaged": imaged}
