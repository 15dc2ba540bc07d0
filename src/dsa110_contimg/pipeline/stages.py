"""The pipeline's stages: each takes a :class:`StageContext` and returns its outputs.

Stages are idempotent (see :mod:`dsa110_contimg.pipeline.runner`): each first
looks at what the products DB holds for the group and does only what is
missing, and registers products only after they are complete on disk.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from dsa110_contimg.config import Settings
from dsa110_contimg.conversion.convert import convert_group
from dsa110_contimg.errors import InputDataError
from dsa110_contimg.pipeline.jobs import describe_inputs
from dsa110_contimg.pipeline.reapply import UNCALIBRATED_NOTE
from dsa110_contimg.pipeline.runner import StageContext
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.db import session_scope
from dsa110_contimg.products.models import (
    FileStatus,
    MeasurementSet,
    MSStage,
    ProductStatus,
    RawFile,
    utcnow,
)

log = logging.getLogger(__name__)


def group_files(session: sa.orm.Session, group_id: str) -> list[Path]:
    """Paths of a group's usable (not quarantined) subband files, by subband."""
    rows = session.scalars(
        sa.select(RawFile)
        .where(RawFile.group_id == group_id, RawFile.status != FileStatus.QUARANTINED)
        .order_by(RawFile.subband)
    ).all()
    if not rows:
        raise InputDataError(
            f"group {group_id} has no usable files", hint="run `dsa110 index` first"
        )
    return [Path(r.path) for r in rows]


def group_ms(session: sa.orm.Session, group_id: str) -> MeasurementSet | None:
    """The group's registered, existing MS, if any."""
    ms = session.scalars(
        sa.select(MeasurementSet).where(
            MeasurementSet.group_id == group_id, MeasurementSet.status == ProductStatus.OK
        )
    ).first()
    return ms if ms is not None and Path(ms.path).exists() else None


def convert(ctx: StageContext) -> dict[str, Any]:
    """Group files -> ``<ms_dir>/<group>.ms``, registered in ms_index."""
    with session_scope(ctx.factory) as session:
        existing = group_ms(session, ctx.group_id)
        if existing is not None:
            log.info("group %s already converted: %s", ctx.group_id, existing.path)
            return {"ms_path": existing.path, "skipped": True}
        paths = group_files(session, ctx.group_id)
    ctx.job.record_inputs(describe_inputs(paths))
    out = ctx.settings.ms_dir / f"{ctx.group_id}.ms"
    out.parent.mkdir(parents=True, exist_ok=True)
    # overwrite: an MS on disk without a row is a leftover of a crash between
    # rename and registration; it is redone rather than trusted.
    result = convert_group(paths, out, overwrite=True)
    with session_scope(ctx.factory) as session:
        ms = repo.register_ms(
            session,
            path=result.ms_path,
            mjd_start=result.mjd_start,
            mjd_mid=result.mjd_mid,
            mjd_end=result.mjd_end,
            group_id=ctx.group_id,
            pointing_ra_deg=result.phase_ra_deg,
            pointing_dec_deg=result.pointing_dec_deg,
            phase_ra_deg=result.phase_ra_deg,
            phase_dec_deg=result.phase_dec_deg,
            field_name=f"meridian_{ctx.group_id}",
            n_rows=result.n_rows,
            n_channels=result.n_channels,
            stage=MSStage.CONVERTED,
            size_bytes=result.size_bytes,
            note=f"missing subbands {result.missing_subbands}" if result.missing_subbands else None,
        )
        session.execute(
            sa.update(RawFile)
            .where(RawFile.path.in_([str(p) for p in paths]))
            .values(status=FileStatus.CONVERTED, updated_at=utcnow())
        )
        out_dict = {**result.as_dict(), "ms_id": ms.id}
    return out_dict


def _ms_row(ctx: StageContext) -> MeasurementSet:
    with session_scope(ctx.factory) as session:
        ms = group_ms(session, ctx.group_id)
        if ms is None:
            raise InputDataError(
                f"group {ctx.group_id} has no registered MS", hint="run the convert stage"
            )
        session.expunge(ms)
        return ms


def flag(ctx: StageContext) -> dict[str, Any]:
    """Autocorrelations, zeros, AOFlagger, MAD clip, extension, dead antennas (in place)."""
    from dsa110_contimg.flagging import flag_ms

    ms = _ms_row(ctx)
    if ms.flag_fraction is not None:
        return {"ms_path": ms.path, "skipped": True, "flag_fraction": ms.flag_fraction}
    result = flag_ms(ms.path)
    qa = result.qa()
    fraction = float(qa["total"])
    with session_scope(ctx.factory) as session:
        row = session.get(MeasurementSet, ms.id)
        row.flag_fraction, row.stage = fraction, MSStage.FLAGGED
        row.qa_metrics = {**(row.qa_metrics or {}), "flagging": qa}
    return {"ms_path": ms.path, "flag_fraction": fraction}


def calibrate(ctx: StageContext) -> dict[str, Any]:
    """Solve on a calibrator transit, then apply the valid tables; or record why not."""
    ms = _ms_row(ctx)
    if ms.cal_applied:
        return {"ms_path": ms.path, "skipped": True}
    out: dict[str, Any] = {"ms_path": ms.path}
    solved = solve_on_transit(ctx.factory, ms)
    if solved is not None:
        out["solved"] = solved
    elif ctx.options.get("tile_gains", ctx.settings.tile_gains):
        tile = solve_tile_gains_on_catalog(ctx.settings, ctx.factory, ms)
        if tile is not None:
            out["tile_gains"] = tile
    out.update(apply_valid_tables(ctx.factory, ms, ctx.job.run_id))
    return out


def solve_tile_gains_on_catalog(
    settings: Settings, factory: sa.orm.sessionmaker, ms: MeasurementSet
) -> dict[str, Any] | None:
    """Between transits: gains of this group against the catalog sky model.

    Used when a transit's bandpass is valid for the MS but no transit gain
    table is (the gains last about an hour, the bandpass a day): the group's
    own gains are solved against the catalog sources in its beam with that
    bandpass applied (:mod:`dsa110_contimg.calibration.tile`) and registered
    as a gain table valid for this group's time range only, which
    :func:`apply_valid_tables` then picks. Returns None when the transit's
    gains are still valid or no bandpass is; otherwise the table, or why none
    was made (no catalog store, too little model flux, a poor solution).
    The catalog with the most sources in the cone is used (one catalog, so
    no source is modelled twice).
    """
    from dsa110_contimg.calibration import caltable_records, read_info, select_tables
    from dsa110_contimg.calibration.caltable import write_caltable
    from dsa110_contimg.calibration.tile import (
        catalog_sky_model,
        model_radius_deg,
        solve_tile_gains,
    )
    from dsa110_contimg.catalog.store import CatalogStore
    from dsa110_contimg.photometry.stage import SKIP_CATALOGS
    from dsa110_contimg.products.models import CalTable, CalTableStatus

    with session_scope(factory) as session:
        candidates = session.scalars(
            sa.select(CalTable).where(CalTable.status == CalTableStatus.VALID)
        ).all()
        if select_tables(candidates, ms.mjd_mid, ms.pointing_dec_deg).ok:
            return None  # the transit's gains still hold
        bandpass = select_tables(
            candidates, ms.mjd_mid, ms.pointing_dec_deg, required=("bandpass",)
        )
    if not bandpass.ok:
        return None  # nothing to anchor the tile to: left uncalibrated by the caller
    store_path = Path(settings.catalog_db)
    if not store_path.is_file():
        return {"skipped": f"no catalog store at {store_path}"}
    info = read_info(ms.path)
    freq = float(np.median(info.freqs_hz))
    with CatalogStore(store_path) as store:
        cones = [
            store.cone(name, ms.phase_ra_deg, ms.phase_dec_deg, model_radius_deg(freq))
            for name in store.catalogs()
            if name not in SKIP_CATALOGS
        ]
    cone = max(cones, key=len, default=np.empty(0))
    model = catalog_sky_model(
        [cone], mid_mjd=ms.mjd_mid, pointing_dec_deg=ms.pointing_dec_deg, freq_hz=freq
    )
    if not model.enough:
        reason = f"catalog model too thin ({model.apparent_flux_jy:.2f} Jy apparent)"
        log.warning("MS %s: no tile gains: %s", ms.path, reason)
        return {"skipped": reason}
    solution = solve_tile_gains(
        ms.path, bandpass.paths[0], model, pointing_dec_deg=ms.pointing_dec_deg
    )
    if solution.gain.flag_fraction > 0.5:
        reason = f"tile gains {solution.gain.flag_fraction:.0%} flagged"
        log.warning("MS %s: no tile gains: %s", ms.path, reason)
        return {"skipped": reason}
    path = write_caltable(solution.gain, ms.path)
    (record,) = caltable_records(
        solution,
        {"gain": path},
        info,
        None,
        validity_days={"gain": ms.mjd_end - ms.mjd_start},
    )
    record["qa_metrics"]["sky_model"] = solution.gain.meta["sky_model"]
    with session_scope(factory) as session:
        repo.register_cal_table(session, **record)
    log.info(
        "MS %s: tile gains %s from %d catalog sources (%.2f Jy apparent)",
        ms.path,
        path,
        len(model.sources),
        model.apparent_flux_jy,
    )
    return {"table": str(path), "bandpass": bandpass.paths[0], **solution.gain.meta["sky_model"]}


def solve_on_transit(factory: sa.orm.sessionmaker, ms: MeasurementSet) -> dict[str, Any] | None:
    """Solve bandpass and gains when a calibrator transits the MS; register the tables.

    Returns the calibrator's name and the table paths, or None when no
    calibrator transits the MS's time range near its declination.
    """
    from dsa110_contimg.calibration import (
        PointSource,
        caltable_records,
        read_info,
        solve_ms,
        write_model_ms,
        write_solutions,
    )
    from dsa110_contimg.pipeline.calibrators import find_transits

    transits = find_transits(ms.mjd_start, ms.mjd_end, ms.pointing_dec_deg)
    if not transits:
        return None
    cal = transits[0].calibrator
    write_model_ms(
        ms.path, [PointSource.from_calibrator(cal)], pointing_dec_deg=ms.pointing_dec_deg
    )
    solution = solve_ms(ms.path, pointing_dec_deg=ms.pointing_dec_deg)
    paths = write_solutions(solution, ms.path)
    records = caltable_records(solution, paths, read_info(ms.path), cal.name)
    with session_scope(factory) as session:
        for record in records:
            repo.register_cal_table(session, **record)
        row = session.get(MeasurementSet, ms.id)
        row.calibrator = cal.name
    return {"calibrator": cal.name, "tables": {k: str(v) for k, v in paths.items()}}


def apply_valid_tables(
    factory: sa.orm.sessionmaker, ms: MeasurementSet, job_run_id: str | None
) -> dict[str, Any]:
    """Apply the tables valid for the MS's time and strip, and record the application.

    Returns ``{"applied": ..., "tables": [...]}``, or ``{"uncalibrated":
    reason}`` (also written to the MS's note) when a required table type has
    no valid table. Raises
    :class:`~dsa110_contimg.calibration.DeclinationMismatchError` when the
    only tables valid in time come from another declination strip.
    """
    from dsa110_contimg.calibration import select_tables
    from dsa110_contimg.calibration.apply import apply_ms
    from dsa110_contimg.products.models import CalTable, CalTableStatus

    with session_scope(factory) as session:
        candidates = session.scalars(
            sa.select(CalTable).where(CalTable.status == CalTableStatus.VALID)
        ).all()
        selection = select_tables(candidates, ms.mjd_mid, ms.pointing_dec_deg)
        chosen = selection.paths
        if not selection.ok:
            row = session.get(MeasurementSet, ms.id)
            row.note = f"{UNCALIBRATED_NOTE}: {selection.reason}"
            log.warning("MS %s left uncalibrated: %s", ms.path, selection.reason)
            return {"uncalibrated": selection.reason}
    applied = apply_ms(ms.path, chosen)
    with session_scope(factory) as session:
        for path in chosen:
            repo.record_cal_application(
                session, ms_path=ms.path, cal_path=path, job_run_id=job_run_id
            )
        row = session.get(MeasurementSet, ms.id)
        row.stage = MSStage.CALIBRATED
        if row.note and row.note.startswith(UNCALIBRATED_NOTE):  # it waited; no longer
            row.note = None
    return {"applied": applied, "tables": chosen}


def image(ctx: StageContext) -> dict[str, Any]:
    """WSClean on CORRECTED_DATA (tier scaled to the array), pb correction, QA, previews."""
    from dsa110_contimg.imaging import get_tier, image_ms, register_imaging
    from dsa110_contimg.imaging.msinfo import read_ms_summary
    from dsa110_contimg.imaging.stage import next_image_version
    from dsa110_contimg.imaging.tiers import scale_tier
    from dsa110_contimg.products.models import Image

    ms = _ms_row(ctx)
    with session_scope(ctx.factory) as session:
        current = session.scalars(
            sa.select(Image).where(Image.ms_id == ms.id, Image.status == ProductStatus.OK)
        ).first()
        if current is not None:
            return {"ms_path": ms.path, "skipped": True}
        version = next_image_version(session, ms.id)
    if not ms.cal_applied:
        raise InputDataError(
            f"MS {ms.path} is not calibrated ({ms.note or 'no tables applied'})",
            hint="a group with no valid calibration is not imaged",
        )
    summary = read_ms_summary(ms.path)
    tier = get_tier(ctx.options.get("tier", "standard"))
    tier = scale_tier(
        tier,
        max_baseline_m=summary.max_baseline_m,
        freq_min_hz=float(summary.freqs_hz.min()),
        freq_max_hz=float(summary.freqs_hz.max()),
        max_size=ctx.options.get("max_image_size", 2400),
    )
    result = image_ms(
        ms.path,
        ctx.settings.images_dir / ctx.group_id,
        tier=tier,
        data_column="CORRECTED_DATA",
        version=version,
    )
    with session_scope(ctx.factory) as session:
        rows = register_imaging(session, result, ms.id)
        ids = {r.image_type: r.id for r in rows}
    return {
        "ms_path": ms.path,
        "images": {k: str(v) for k, v in result.products.items()},
        "image_ids": ids,
        "qa": result.qa,
        "wsclean_seconds": result.wsclean_seconds,
    }


def photometry(ctx: StageContext) -> dict[str, Any]:
    """Forced photometry at catalog positions, normalisation, light curves, candidates."""
    from dsa110_contimg.photometry.stage import measure_image
    from dsa110_contimg.pipeline.jobs import describe_inputs
    from dsa110_contimg.products.models import Image

    ms = _ms_row(ctx)
    with session_scope(ctx.factory) as session:
        image_row = session.scalars(
            sa.select(Image)
            .where(Image.ms_id == ms.id, Image.status == ProductStatus.OK, Image.pbcor.is_(True))
            .order_by(Image.version.desc())
        ).first()
        if image_row is None:
            raise InputDataError(
                f"group {ctx.group_id} has no pb-corrected image", hint="run the image stage"
            )
        ctx.job.record_inputs(describe_inputs([image_row.path]))
        return measure_image(
            session, image_row, ctx.settings, blind=ctx.options.get("blind", False)
        )


STAGES = [
    ("convert", convert),
    ("flag", flag),
    ("calibrate", calibrate),
    ("image", image),
    ("photometry", photometry),
]
