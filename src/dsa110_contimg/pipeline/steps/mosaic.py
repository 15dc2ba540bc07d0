"""The mosaic stage: one mosaic per declination strip and period, made once its tiles are in.

:func:`due_mosaics` reads which (strip, period) pairs are ready: the period
is over and every group of it has finished (done or failed), or
``mosaic_timeout_s`` has passed since its end; it has pb-corrected tiles
(through :func:`dsa110_contimg.mosaic.select_tiles`, which leaves out images
rated bad); and no current mosaic of it holds exactly those tiles.
:func:`make_period_mosaic` builds one (tiles convolved to their common beam)
and registers it as the next version, superseding the previous one, as a
``mosaic`` job. :func:`run_due_mosaics` is the daemon's per-cycle call.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from astropy.time import Time
from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.config import Settings
from dsa110_contimg.errors import DSA110Error
from dsa110_contimg.mosaic import TileInput, select_tiles
from dsa110_contimg.mosaic.build import build_mosaic, remove_outputs
from dsa110_contimg.mosaic.stage import register_result
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.db import session_scope
from dsa110_contimg.products.models import GroupState, JobStatus
from dsa110_contimg.telescope.constants import GROUP_DURATION_S

log = logging.getLogger(__name__)

FINISHED = (GroupState.DONE, GroupState.FAILED)


@dataclass(frozen=True)
class MosaicStageOptions:
    """What the stage reads from the settings (see ``config.py`` for each)."""

    period_days: float = 1.0
    strip_width_deg: float = 1.0
    timeout_s: float = 3600.0
    lookback_days: float = 7.0
    out_dir: Path = Path("mosaics")

    @classmethod
    def from_settings(cls, settings: Settings) -> MosaicStageOptions:
        return cls(
            period_days=settings.mosaic_period_days,
            strip_width_deg=settings.mosaic_strip_width_deg,
            timeout_s=settings.mosaic_timeout_s,
            lookback_days=settings.mosaic_lookback_days,
            out_dir=Path(settings.mosaics_dir),
        )

    @property
    def period(self) -> str:
        return f"{self.period_days:g}d"


@dataclass(frozen=True)
class PeriodMosaic:
    """One strip and period to mosaic: its strip centre (deg) and the period's MJD range."""

    strip_dec_deg: float
    period: str
    mjd_start: float
    mjd_end: float
    strip_width_deg: float

    @property
    def name_stem(self) -> str:
        return f"strip{self.strip_dec_deg:+06.2f}_mjd{self.mjd_start:.3f}_{self.period}"

    def tiles(self, session: Session) -> list[TileInput]:
        """The current, not bad-rated pb-corrected images of this strip's groups in the period.

        A group belongs to the strip of its pointing declination and to the
        period of its mid-time; its image's centre may lie a little off the
        pointing, so tiles are matched by group, not by the image's declination.
        """
        half = GROUP_DURATION_S / 2 / 86400.0
        groups = {
            gid
            for gid, start, dec, _ in repo.groups_for_mosaics(
                session, self.mjd_start - half, self.mjd_end - half
            )
            if dec is not None and strip_of(dec, self.strip_width_deg) == self.strip_dec_deg
        }
        if not groups:
            return []
        pad = 2 * half  # a tile's mid-time is within half a group of its group's
        tiles = select_tiles(session, mjd_start=self.mjd_start - pad, mjd_end=self.mjd_end + pad)
        owner = repo.image_groups(session, [t.image_id for t in tiles])
        return [t for t in tiles if owner.get(t.image_id) in groups]


def strip_of(dec_deg: float, width_deg: float) -> float:
    """The centre of the strip of width ``width_deg`` holding ``dec_deg`` (rounded to 1e-6)."""
    return round(round(dec_deg / width_deg) * width_deg, 6)


def due_mosaics(
    session: Session, options: MosaicStageOptions, now_mjd: float | None = None
) -> list[PeriodMosaic]:
    """The strips and periods whose mosaic should be made (or made again) now."""
    now = Time.now().mjd if now_mjd is None else now_mjd
    period = options.period_days
    half_group = GROUP_DURATION_S / 2 / 86400.0
    buckets: dict[tuple[float, float], list[GroupState]] = {}
    for _, start, dec, state in repo.groups_for_mosaics(session, now - options.lookback_days):
        if dec is None:
            continue
        p0 = round(math.floor((start + half_group) / period) * period, 9)
        buckets.setdefault((strip_of(dec, options.strip_width_deg), p0), []).append(state)
    due = []
    for (strip, p0), states in sorted(buckets.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        end = p0 + period
        over = now >= end
        if not over or not (
            all(s in FINISHED for s in states) or now >= end + options.timeout_s / 86400
        ):
            continue
        plan = PeriodMosaic(strip, options.period, p0, end, options.strip_width_deg)
        try:
            tiles = plan.tiles(session)
        except DSA110Error as exc:  # e.g. an image without its beam: say so, try the rest
            log.warning("mosaic %s not made: %s", plan.name_stem, exc)
            continue
        if not tiles:
            continue
        current = repo.current_period_mosaic(session, strip, options.period, p0)
        if current is not None and repo.mosaic_tile_ids(session, current.id) == {
            t.image_id for t in tiles
        }:
            continue
        due.append(plan)
    return due


def make_period_mosaic(
    settings: Settings,
    factory: sessionmaker[Session],
    plan: PeriodMosaic,
    out_dir: str | Path,
    *,
    parent_run_id: str | None = None,
) -> int:
    """Build and register the next version of ``plan``'s mosaic, as a ``mosaic`` job; its id.

    The files are written first (atomically) and the rows in one transaction:
    the new mosaic, its tiles, and the previous version marked superseded.
    """
    with session_scope(factory) as session:
        tiles = plan.tiles(session)
        version = repo.latest_period_version(
            session, plan.strip_dec_deg, plan.period, plan.mjd_start
        )
        version += 1
        name = f"{plan.name_stem}_v{version}"
        job = repo.create_job(
            session,
            job_type="mosaic",
            parent_run_id=parent_run_id,
            params={
                "strip_dec_deg": plan.strip_dec_deg,
                "period": plan.period,
                "mjd_start": plan.mjd_start,
                "mjd_end": plan.mjd_end,
                "version": version,
                "image_ids": [t.image_id for t in tiles],
            },
        )
        run_id = job.run_id
        repo.start_job(session, run_id)
    try:
        if not tiles:
            raise DSA110Error(f"no tiles for {name}")
        result = build_mosaic(tiles, Path(out_dir).resolve() / f"{name}.fits")
    except Exception as exc:
        with session_scope(factory) as session:
            repo.finish_job(session, run_id, status=JobStatus.FAILED, error=str(exc))
        raise
    try:
        with session_scope(factory) as session:
            previous = repo.current_period_mosaic(
                session, plan.strip_dec_deg, plan.period, plan.mjd_start
            )
            mosaic = register_result(
                session,
                name,
                result,
                strip_dec_deg=plan.strip_dec_deg,
                period=plan.period,
                period_start_mjd=plan.mjd_start,
                version=version,
            )
            if previous is not None:
                repo.supersede_mosaic(session, previous.id, mosaic.id)
            repo.finish_job(
                session,
                run_id,
                outputs={"mosaic_id": mosaic.id, "path": result.path, "noise_jy": result.noise_jy},
            )
            mosaic_id = mosaic.id
    except BaseException:
        remove_outputs(result)
        with session_scope(factory) as session:
            repo.finish_job(session, run_id, status=JobStatus.FAILED, error="registration failed")
        raise
    log.info("mosaic %s (id %d): %d tiles", name, mosaic_id, len(tiles))
    return mosaic_id


def run_due_mosaics(
    settings: Settings,
    factory: sessionmaker[Session],
    now_mjd: float | None = None,
    failed: dict[str, frozenset[int]] | None = None,
) -> list[int]:
    """Make every mosaic that is due (the daemon's per-cycle call); the new mosaics' ids.

    ``failed`` (kept by the caller across cycles) remembers the tiles of each
    mosaic whose build failed: it is not tried again, one failed job a cycle,
    until its tiles change.
    """
    options = MosaicStageOptions.from_settings(settings)
    failed = {} if failed is None else failed
    with session_scope(factory) as session:
        plans = [
            (p, frozenset(t.image_id for t in p.tiles(session)))
            for p in due_mosaics(session, options, now_mjd)
        ]
    made = []
    for plan, tiles in plans:
        if failed.get(plan.name_stem) == tiles:
            continue
        try:
            made.append(make_period_mosaic(settings, factory, plan, settings.mosaics_dir))
            failed.pop(plan.name_stem, None)
        except Exception as exc:  # one failed mosaic must not stop the daemon
            failed[plan.name_stem] = tiles
            log.error(
                "mosaic %s failed (not retried until its tiles change): %s", plan.name_stem, exc
            )
    return made
