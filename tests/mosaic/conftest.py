"""Registered pb-corrected images of overlapping fields, made by the pipeline, and a mosaic.

A calibrator transit (group 0, for the tables) and two target groups of the
same strip 19 and 20 groups later (24 and 26 minutes: 6 deg from 3C286,
near the Airy pattern's second null, inside the gains' +-30 min), run
through ``process_group`` with the quicklook tier. Consecutive groups are
77 s (0.32 deg of RA) apart, so the two target images overlap almost
entirely. The sky reaches 1.5 deg from the strip with fluxes up to 1 Jy.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parents[1]))  # the pipeline and imaging test helpers

from dsa110_contimg.pipeline.runner import process_group  # noqa: E402
from dsa110_contimg.products import make_engine, make_session_factory, session_scope  # noqa: E402
from dsa110_contimg.products.models import Image, MeasurementSet  # noqa: E402
from dsa110_contimg.simulate import preset_config, simulate  # noqa: E402
from imaging.conftest import true_catalog  # noqa: E402,F401
from pipeline.conftest import prepare_root  # noqa: E402

TARGETS = (19, 20)


@pytest.fixture(scope="session")
def tiles(tmp_path_factory: pytest.TempPathFactory, require_tool) -> dict:
    """The processed data root: settings, truth and the targets' image-pb ids and mid-times."""
    require_tool("wsclean")
    sim = tmp_path_factory.mktemp("mosaic-sim")
    cfg = preset_config(
        "test", n_epochs=1, targets_per_epoch=max(TARGETS), max_flux_jy=1.0, sky_radius_deg=1.5
    )
    truth = simulate(cfg, sim, groups=[0, *TARGETS])
    settings = prepare_root(tmp_path_factory.mktemp("mosaic-root"), sim)
    engine = make_engine(settings.db_url)
    factory = make_session_factory(engine)
    for index in (0, *TARGETS):
        gid = truth["groups"][index]["group_id"]
        assert process_group(settings, factory, gid, options={"tier": "quicklook"}), gid
    groups = [truth["groups"][i]["group_id"] for i in TARGETS]
    with session_scope(factory) as s:
        rows = s.scalars(
            sa.select(Image)
            .join(MeasurementSet, MeasurementSet.id == Image.ms_id)
            .where(Image.image_type == "image-pb", MeasurementSet.group_id.in_(groups))
            .order_by(Image.mjd_obs)
        ).all()
        images = [
            {"id": r.id, "path": r.path, "mjd": r.mjd_obs, "rms": r.noise_jy, "freq": r.freq_hz}
            for r in rows
        ]
    engine.dispose()
    assert len(images) == len(TARGETS)
    return {"settings": settings, "truth": truth, "images": images}


@pytest.fixture(scope="session")
def built(tiles: dict) -> dict:
    """The two target images mosaicked as ``strip`` (the time range of the targets only)."""
    from dsa110_contimg.mosaic import make_mosaic

    settings = tiles["settings"]
    engine = make_engine(settings.db_url)
    mjds = [im["mjd"] for im in tiles["images"]]
    mosaic_id, result = make_mosaic(
        make_session_factory(engine),
        "strip",
        settings.mosaics_dir,  # under the data root, where the API serves files from
        mjd_start=min(mjds) - 1e-4,
        mjd_end=max(mjds) + 1e-4,
    )
    engine.dispose()
    return {**tiles, "id": mosaic_id, "result": result}


@pytest.fixture(scope="session")
def mixed_beams(tiles: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The first target's pipeline image and the second's imaged again with natural weighting.

    Natural weighting of the same MS gives a genuinely different restoring
    beam (wider, another shape) from the pipeline's Briggs image: the two are
    co-added by :func:`build_mosaic` at their smallest common beam.
    """
    from dsa110_contimg.imaging import get_tier, image_ms
    from dsa110_contimg.imaging.msinfo import read_ms_summary
    from dsa110_contimg.imaging.tiers import scale_tier
    from dsa110_contimg.mosaic.build import build_mosaic
    from dsa110_contimg.mosaic.select import TileInput
    from dsa110_contimg.products.models import Image as ImageRow

    settings = tiles["settings"]
    engine = make_engine(settings.db_url)
    with session_scope(make_session_factory(engine)) as s:
        rows = [s.get(ImageRow, im["id"]) for im in tiles["images"]]
        ms_path = rows[1].ms.path
        beam_path = {
            r.id: s.scalars(
                sa.select(ImageRow.path).where(
                    ImageRow.ms_id == r.ms_id,
                    ImageRow.image_type == "beam",
                    ImageRow.version == r.version,
                )
            ).one()
            for r in rows
        }
    engine.dispose()
    summary = read_ms_summary(ms_path)
    tier = scale_tier(
        get_tier("quicklook"),
        max_baseline_m=summary.max_baseline_m,
        freq_min_hz=float(summary.freqs_hz.min()),
        freq_max_hz=float(summary.freqs_hz.max()),
        max_size=2400,
    )
    natural = image_ms(
        ms_path,
        tmp_path_factory.mktemp("natural"),
        tier=tier.model_copy(update={"weight": "natural"}),
        version=1,
    )
    first = tiles["images"][0]
    inputs = [
        TileInput(first["id"], first["path"], beam_path[first["id"]], first["rms"], first["mjd"]),
        TileInput(
            -1,  # not registered: an image made here
            natural.products["image-pb"],
            natural.products["beam"],
            float(natural.qa["rms_jy"]),
            natural.mjd_obs,
        ),
    ]
    out = tmp_path_factory.mktemp("mixed") / "mixed.fits"
    result = build_mosaic(inputs, out)
    return {**tiles, "inputs": inputs, "result": result, "natural": natural}
