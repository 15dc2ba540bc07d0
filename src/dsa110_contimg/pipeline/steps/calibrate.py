"""Step 3: solve on a calibrator transit, or apply the valid tables (and tile gains between transits).

Tables are chosen by the one selection rule
(:func:`dsa110_contimg.calibration.select_tables`) among the candidates the
products layer pre-selects; an MS no table covers waits for calibration
(stage ``waiting_cal``, the reason in its note) until its strip's calibrator
transits (:mod:`dsa110_contimg.pipeline.reapply`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from dsa110_contimg.calibration.select import (
    BANDPASS_VALIDITY_DAYS,
    EXPIRY_GRACE_DAYS,
    GAIN_VALIDITY_DAYS,
    other_strip_note,
    select_tables,
)
from dsa110_contimg.calibration.solve import SolveParams
from dsa110_contimg.calibration.tile import TileModelParams
from dsa110_contimg.config import Settings
from dsa110_contimg.pipeline.context import RunOptions, StepContext
from dsa110_contimg.pipeline.steps.common import beam_model_for, ms_row
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.db import session_scope
from dsa110_contimg.products.models import MeasurementSet
from dsa110_contimg.telescope.beam import AIRY, PrimaryBeamModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CalibrateOptions:
    """What the calibrate step is asked to do.

    Attributes
    ----------
    tile_gains : bool
        Between transits, solve the group's own gains on the catalog sky model
        (the run's choice, else ``settings.tile_gains``).
    solve : SolveParams
        The solver's parameters (``settings.solve``).
    tile_model : TileModelParams
        Which catalog sources make a tile's sky model (``settings.solve.tile_model``).
    validity_days : dict
        Validity of newly solved tables by type, days.
    expiry_grace_days : float
        How long after its validity a table stays valid, days.
    tile_max_flag_fraction : float
        Tile gains flagged above this fraction are not registered.
    beam_model : str
        The primary beam of the sky models (``settings.beam_model``: ``airy``, or
        ``measured`` for the registered model the images are corrected with).
    """

    tile_gains: bool = True
    solve: SolveParams = SolveParams()
    tile_model: TileModelParams = TileModelParams()
    validity_days: dict[str, float] = field(
        default_factory=lambda: {"bandpass": BANDPASS_VALIDITY_DAYS, "gain": GAIN_VALIDITY_DAYS}
    )
    expiry_grace_days: float = EXPIRY_GRACE_DAYS
    tile_max_flag_fraction: float = 0.5
    beam_model: str = "airy"

    @classmethod
    def from_settings(cls, settings: Settings, run: RunOptions) -> CalibrateOptions:
        """``settings.solve``, and the run's ``tile_gains`` when it chose one, else the settings'."""
        solve = settings.solve
        return cls(
            tile_gains=settings.tile_gains if run.tile_gains is None else run.tile_gains,
            solve=solve.params(),
            tile_model=solve.tile_model_params(),
            validity_days=solve.validity_days,
            expiry_grace_days=solve.expiry_grace_days,
            tile_max_flag_fraction=solve.tile_max_flag_fraction,
            beam_model=settings.beam_model,
        )


def run(ctx: StepContext) -> dict[str, Any]:
    """Solve on a calibrator transit, then apply the valid tables; or record why not.

    First marks expired the tables long past their validity
    (:func:`~dsa110_contimg.products.repositories.expire_cal_tables`).
    """
    options = CalibrateOptions.from_settings(ctx.settings, ctx.options)
    ms = ms_row(ctx)
    if ms.cal_applied:
        return {"ms_path": ms.path, "skipped": True}
    out: dict[str, Any] = {"ms_path": ms.path}
    with session_scope(ctx.factory) as session:
        expired = repo.expire_cal_tables(session, grace_days=options.expiry_grace_days)
    if expired:
        out["expired_tables"] = expired
    solved = solve_on_transit(ctx.factory, ms, ctx.settings, options)
    if solved is not None:
        out["solved"] = solved
    elif options.tile_gains:
        tile = solve_tile_gains_on_catalog(ctx.settings, ctx.factory, ms, options)
        if tile is not None:
            out["tile_gains"] = tile
    out.update(apply_valid_tables(ctx.factory, ms, ctx.job.run_id))
    return out


def solve_tile_gains_on_catalog(
    settings: Settings,
    factory: sa.orm.sessionmaker,
    ms: MeasurementSet,
    options: CalibrateOptions | None = None,
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
    no source is modelled twice). ``options``: the solve's parameters
    (default from ``settings``).
    """
    from dsa110_contimg.calibration import caltable_records, read_info
    from dsa110_contimg.calibration.caltable import write_caltable
    from dsa110_contimg.calibration.tile import catalog_sky_model, solve_tile_gains

    with session_scope(factory) as session:
        candidates = repo.cal_table_candidates(session, ms.mjd_mid, ms.pointing_dec_deg)
        if select_tables(candidates, ms.mjd_mid, ms.pointing_dec_deg).ok:
            return None  # the transit's gains still hold
        bandpass = select_tables(
            candidates, ms.mjd_mid, ms.pointing_dec_deg, required=("bandpass",)
        )
        if not bandpass.ok:
            return None  # nothing to anchor the tile to: left uncalibrated by the caller
        options = options or CalibrateOptions.from_settings(settings, RunOptions())
        beam = beam_model_for(session, options.beam_model, ms.mjd_mid) or AIRY
    info = read_info(ms.path)
    freq = float(np.median(info.freqs_hz))
    cone = _catalog_cone(settings, ms, freq, options.tile_model, beam)
    if cone is None:
        return {"skipped": f"no catalog store at {settings.catalog_db}"}
    model = catalog_sky_model(
        [cone],
        mid_mjd=ms.mjd_mid,
        pointing_dec_deg=ms.pointing_dec_deg,
        freq_hz=freq,
        params=options.tile_model,
        beam=beam,
    )
    if not model.enough:
        reason = f"catalog model too thin ({model.apparent_flux_jy:.2f} Jy apparent)"
        log.warning("MS %s: no tile gains: %s", ms.path, reason)
        return {"skipped": reason}
    solution = solve_tile_gains(
        ms.path,
        bandpass.paths[0],
        model,
        pointing_dec_deg=ms.pointing_dec_deg,
        params=options.solve,
        bin_hz=options.tile_model.bin_hz,
        beam=beam,
    )
    if solution.gain.flag_fraction > options.tile_max_flag_fraction:
        reason = f"tile gains {solution.gain.flag_fraction:.0%} flagged"
        log.warning("MS %s: no tile gains: %s", ms.path, reason)
        return {"skipped": reason}
    path = write_caltable(solution.gain, ms.path, _new_table_paths(factory, ms.path)["gain"])
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


def _new_table_paths(factory: sa.orm.sessionmaker, ms_path: str) -> dict[str, str]:
    """Unregistered paths for a solve's tables: a re-solve never writes over a registered table."""
    from dsa110_contimg.calibration.caltable import table_path_for

    with session_scope(factory) as session:
        return {
            kind: repo.next_cal_table_path(session, table_path_for(ms_path, code))
            for kind, code in (("bandpass", "B"), ("gain", "G"))
        }


def _catalog_cone(
    settings: Settings,
    ms: MeasurementSet,
    freq_hz: float,
    tile_model: TileModelParams | None = None,
    beam: PrimaryBeamModel = AIRY,
) -> np.ndarray | None:
    """Catalog sources that can enter the MS's sky model; None without a catalog store.

    The catalog with the most sources in the cone is used (one catalog, so
    no source is modelled twice).
    """
    from dsa110_contimg.calibration.tile import model_radius_deg
    from dsa110_contimg.catalog.store import CatalogStore
    from dsa110_contimg.photometry.records import SKIP_CATALOGS

    store_path = Path(settings.catalog_db)
    if not store_path.is_file():
        return None
    with CatalogStore(store_path) as store:
        cones = [
            store.cone(
                name,
                ms.phase_ra_deg,
                ms.phase_dec_deg,
                model_radius_deg(freq_hz, tile_model or TileModelParams(), beam),
            )
            for name in store.catalogs()
            if name not in SKIP_CATALOGS
        ]
    return max(cones, key=len, default=np.empty(0))


def solve_on_transit(
    factory: sa.orm.sessionmaker,
    ms: MeasurementSet,
    settings: Settings | None = None,
    options: CalibrateOptions | None = None,
) -> dict[str, Any] | None:
    """Solve bandpass and gains when a calibrator transits the MS; register the tables.

    The model is the calibrator plus, when ``settings`` name a catalog store,
    the catalog sources in the beam
    (:func:`~dsa110_contimg.calibration.tile.calibrator_sky_model`): a field
    source at the calibrator's RA is otherwise absorbed into the bandpass and
    gains (a 0.21 Jy source 1.08 deg south of 3C48 came out at 53% of its flux).
    Returns the calibrator's name, the table paths and the number of field
    sources modelled, or None when no calibrator transits the MS's time range
    near its declination. ``options``: the solve's parameters and the new
    tables' validity (default from ``settings``, else the defaults).
    """
    from dsa110_contimg.calibration import (
        PointSource,
        caltable_records,
        read_info,
        solve_ms,
        write_model_ms,
        write_solutions,
    )
    from dsa110_contimg.calibration.tile import calibrator_sky_model
    from dsa110_contimg.pipeline.calibrators import find_transits

    transits = find_transits(ms.mjd_start, ms.mjd_end, ms.pointing_dec_deg)
    if not transits:
        return None
    if options is None:
        options = (
            CalibrateOptions()
            if settings is None
            else CalibrateOptions.from_settings(settings, RunOptions())
        )
    cal = transits[0].calibrator
    with session_scope(factory) as session:
        beam = beam_model_for(session, options.beam_model, ms.mjd_mid) or AIRY
    info = read_info(ms.path)
    freq = float(np.median(info.freqs_hz))
    sources = [PointSource.from_calibrator(cal)]
    cone = None
    if settings is not None:
        cone = _catalog_cone(settings, ms, freq, options.tile_model, beam)
    if cone is not None:
        sources = calibrator_sky_model(
            sources[0],
            [cone],
            mid_mjd=ms.mjd_mid,
            pointing_dec_deg=ms.pointing_dec_deg,
            freq_hz=freq,
            params=options.tile_model,
            beam=beam,
        )
    else:
        log.warning("MS %s: calibrator %s modelled alone (no catalog store)", ms.path, cal.name)
    write_model_ms(ms.path, sources, pointing_dec_deg=ms.pointing_dec_deg, beam=beam)
    solution = solve_ms(ms.path, options.solve, pointing_dec_deg=ms.pointing_dec_deg)
    paths = write_solutions(solution, ms.path, paths=_new_table_paths(factory, ms.path))
    records = caltable_records(solution, paths, info, cal.name, validity_days=options.validity_days)
    sky = {
        "calibrator": cal.name,
        "n_field_sources": len(sources) - 1,
        "beam_model": beam.describe(),
        "beam_model_id": beam.model_id,
    }
    with session_scope(factory) as session:
        for record in records:
            record["qa_metrics"]["sky_model"] = sky
            repo.register_cal_table(session, **record)
        repo.record_calibrator(session, ms.id, cal.name)
    return {
        "calibrator": cal.name,
        "tables": {k: str(v) for k, v in paths.items()},
        "field_sources": len(sources) - 1,
    }


def apply_valid_tables(
    factory: sa.orm.sessionmaker, ms: MeasurementSet, job_run_id: str | None
) -> dict[str, Any]:
    """Apply the tables valid for the MS's time and strip, and record the application.

    Returns ``{"applied": ..., "tables": [...]}``, or ``{"uncalibrated":
    reason}`` when a required table type has no valid table: the MS then
    waits for calibration (stage ``waiting_cal``, the reason in its note,
    naming the nearest other strip's table when only those are valid, as
    just after the array moved). Other strips' tables are never candidates.
    """
    from dsa110_contimg.calibration.apply import apply_ms

    with session_scope(factory) as session:
        candidates = repo.cal_table_candidates(session, ms.mjd_mid, ms.pointing_dec_deg)
        selection = select_tables(candidates, ms.mjd_mid, ms.pointing_dec_deg)
        chosen = selection.paths
        if not selection.ok:
            reason = selection.reason
            other = repo.nearest_other_strip_table(session, ms.mjd_mid, ms.pointing_dec_deg)
            if other is not None:
                reason += f"; {other_strip_note(other, ms.pointing_dec_deg)}"
            repo.mark_waiting_for_calibration(session, ms.id, reason)
            log.warning("MS %s waits for calibration: %s", ms.path, reason)
            return {"uncalibrated": reason}
    applied = apply_ms(ms.path, chosen)
    with session_scope(factory) as session:
        repo.record_calibration(session, ms_path=ms.path, cal_paths=chosen, job_run_id=job_run_id)
    return {"applied": applied, "tables": chosen}
