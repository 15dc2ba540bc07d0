"""What the command line and the steps both do: requeue groups, register an MS, calibrate an MS.

Each is a function over the settings and a session factory, with no
printing: the command line (:mod:`dsa110_contimg.cli`) formats what they
return, the runner and the steps call them as they are. A rule kept here is
kept once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.config import Settings
from dsa110_contimg.errors import StageError
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.db import session_scope
from dsa110_contimg.products.models import GroupState, MeasurementSet

log = logging.getLogger(__name__)


def requeue_groups(
    factory: sessionmaker[Session], group_ids: Sequence[str], *, reason: str | None = None
) -> list[str]:
    """Put groups back in the queue (failed or done ones too) so the next run processes them.

    All or none: nothing changes unless every group is registered and none is
    being processed. The steps then redo only what is missing.

    Raises
    ------
    NotFoundError
        Naming the unknown groups.
    StageError
        If a group is being processed now.
    """
    with session_scope(factory) as session:
        found = repo.groups_by_id(session, group_ids)
        missing = sorted(set(group_ids) - {g.id for g in found})
        if missing:
            raise repo.NotFoundError(f"unknown groups: {', '.join(missing)}")
        for group in found:
            if group.state is GroupState.PROCESSING:
                raise StageError(f"group {group.id} is being processed now")
        for group in found:
            repo.requeue_group(session, group, reason)
    return list(group_ids)


def registered_ms(factory: sessionmaker[Session], ms: str | Path) -> MeasurementSet:
    """The products DB's row of the MS at ``ms``, registered from its metadata when absent.

    The MS is looked up by the path as given, then by its absolute path; a new
    row gets its times, pointing and shape from the MS itself. The row is
    returned detached (readable after the session closed).
    """
    from dsa110_contimg.calibration import read_info

    path = str(Path(ms).resolve())
    with session_scope(factory) as session:
        for candidate in (str(ms), path):
            try:
                row = repo.get_ms(session, candidate)
                break
            except repo.NotFoundError:
                continue
        else:
            info = read_info(path)
            start, end = (t / 86400.0 for t in info.time_range_s)
            row = repo.register_ms(
                session,
                path=path,
                mjd_start=start,
                mjd_mid=info.mid_mjd,
                mjd_end=end,
                pointing_dec_deg=info.dec_deg,
                phase_ra_deg=math.degrees(float(info.phase_dir_rad[0])),
                phase_dec_deg=info.dec_deg,
                n_rows=info.n_rows,
                n_channels=len(info.freqs_hz),
            )
        session.expunge(row)
    return row


@dataclass
class Calibration:
    """What :func:`calibrate_ms` did.

    Attributes
    ----------
    ms_path : str
        The MS as registered.
    skipped : bool
        The MS was already calibrated; nothing was done.
    outputs : dict
        The ``calibrate`` job's outputs: ``solved``, ``tile_gains``, and
        ``applied``/``tables`` or ``uncalibrated`` (the reason).
    """

    ms_path: str
    skipped: bool = False
    outputs: dict[str, Any] = field(default_factory=dict)


def calibrate_ms(
    settings: Settings,
    factory: sessionmaker[Session],
    ms: str | Path,
    *,
    solve: bool = False,
    tile_gains: bool | None = None,
    report: Callable[[str], None] = log.info,
) -> Calibration:
    """Calibrate one MS as the calibrate step does, recorded as a ``calibrate`` job.

    Solve on its calibrator transit (``solve``), or between transits solve its
    own gains on the catalog sky model (``tile_gains``, default
    ``settings.tile_gains``); then apply the tables valid for its time and
    strip. An unregistered MS is registered first (:func:`registered_ms`).

    Parameters
    ----------
    report
        Told each intermediate result as a line of text, as it happens.

    Raises
    ------
    CalibrationError
        If ``solve`` and no calibrator transits the MS, or when no valid table
        exists (the reason is in the message).
    """
    from dsa110_contimg.calibration import CalibrationError
    from dsa110_contimg.pipeline.context import RunOptions
    from dsa110_contimg.pipeline.jobs import job_run
    from dsa110_contimg.pipeline.steps.calibrate import (
        CalibrateOptions,
        apply_valid_tables,
        solve_on_transit,
        solve_tile_gains_on_catalog,
    )

    options = CalibrateOptions.from_settings(settings, RunOptions(tile_gains=tile_gains))
    row = registered_ms(factory, ms)
    if row.cal_applied:
        return Calibration(row.path, skipped=True)
    from dsa110_contimg.pipeline.context import recorded_settings

    params = {"ms": row.path, "solve": solve, **recorded_settings(settings, "calibrate")}
    with job_run(
        factory, settings.logs_dir, job_type="calibrate", group_id=row.group_id, params=params
    ) as job:
        if solve:
            solved = solve_on_transit(factory, row, settings, options)
            if solved is None:
                raise CalibrationError(
                    f"no calibrator transits {row.path} (Dec {row.pointing_dec_deg:+.2f} deg)",
                    hint="--solve needs a calibrator group",
                )
            job.outputs["solved"] = solved
            report(f"solved on {solved['calibrator']}: {solved['tables']}")
        elif options.tile_gains:
            tile = solve_tile_gains_on_catalog(settings, factory, row, options)
            if tile is not None:
                job.outputs["tile_gains"] = tile
                report(f"tile gains: {tile.get('table') or tile.get('skipped')}")
        job.outputs.update(apply_valid_tables(factory, row, job.run_id))
    if "uncalibrated" in job.outputs:
        raise CalibrationError(
            f"{row.path} left uncalibrated: {job.outputs['uncalibrated']}",
            hint="solve a calibrator of this strip (`dsa110 calibrate CAL.ms --solve`)",
        )
    return Calibration(row.path, outputs=dict(job.outputs))


#: Group states a reprocess may start from (not while processing or collecting).
REPROCESSABLE = tuple(
    s for s in GroupState if s not in (GroupState.PROCESSING, GroupState.COLLECTING)
)


@dataclass
class Reprocess:
    """What :func:`reprocess_group` superseded before the group runs again.

    Attributes
    ----------
    group_id : str
        The group, now claimed (``processing``) for the caller to run.
    from_step : str
        The first step redone.
    superseded : dict
        The MS id, the images superseded, the measurements withdrawn from the
        light curves and the number of sources whose metrics were recomputed.
    """

    group_id: str
    from_step: str
    superseded: dict[str, Any] = field(default_factory=dict)


def default_from_step(factory: sessionmaker[Session], group_id: str) -> str:
    """Where a reprocess starts when not told: calibration if new tables exist, else convert."""
    with session_scope(factory) as session:
        ms = repo.usable_ms_of_group(session, group_id)
        if ms is not None and repo.new_tables_since_calibration(session, ms.id):
            return "calibrate"
    return "convert"


def reprocess_group(
    settings: Settings,
    factory: sessionmaker[Session],
    group_id: str,
    *,
    from_step: str | None = None,
    reason: str = "reprocess requested",
) -> Reprocess:
    """Supersede a group's products from ``from_step`` on and claim the group to run again.

    ``from_step`` is one of ``convert``, ``flag``, ``calibrate``, ``image``,
    ``photometry`` (default: :func:`default_from_step`). In one transaction the
    group is claimed (``processing``), its products of that step and later are
    marked superseded (:func:`~dsa110_contimg.products.repositories.supersede_from_step`)
    and the metrics of the sources whose measurements left their light curves
    are recomputed. The caller then runs the group
    (:func:`dsa110_contimg.pipeline.runner.process_group` with ``claimed=True``);
    the steps redo what is no longer usable, with the current settings and tables.

    Raises
    ------
    NotFoundError
        If the group is unknown.
    StageError
        If the group is being processed now.
    InvalidQueryError
        If ``from_step`` names no step.
    """
    from dsa110_contimg.variability.stage import recompute_metrics, refresh_candidates

    step = repo.check_from_step(from_step or default_from_step(factory, group_id))
    with session_scope(factory) as session:
        repo.get_group(session, group_id)  # NotFoundError for an unknown group
        # claimed first (one conditional update), so no other worker starts it meanwhile
        if not repo.claim_group(session, group_id, REPROCESSABLE):
            raise StageError(f"group {group_id} is being processed now (or still collecting)")
        superseded = repo.supersede_from_step(session, group_id, step, reason=reason)
        sources = superseded.pop("sources")
        superseded["metrics_recomputed"] = len(sources)
        if sources:  # their light curves lost this group's sightings until it is redone
            preset = settings.candidate_preset()
            recompute_metrics(session, sources, preset=preset)
            found = refresh_candidates(session, sources, preset=preset)
            superseded["candidates_withdrawn"] = found.withdrawn
        repo.set_group_state(session, group_id, GroupState.PROCESSING)  # claimed; error cleared
        repo.publish_event(
            session, "group", "reprocess", {"group_id": group_id, "from_step": step, **superseded}
        )
    log.info("group %s: reprocess from %s: %s", group_id, step, superseded)
    return Reprocess(group_id, step, superseded)
