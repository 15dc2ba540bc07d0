"""The conversion stage with the products DB: files of a group in, a registered MS out.

The MS is complete on disk (renamed into place) before its row is written;
the row, the job's end and the raw files' new status go in one transaction.
A failure marks the job failed with the reason and registers nothing.
"""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg import __version__
from dsa110_contimg.config import Settings
from dsa110_contimg.conversion.convert import ConversionResult, convert_group
from dsa110_contimg.errors import InputDataError
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.db import session_scope
from dsa110_contimg.products.models import FileStatus, JobStatus, MSStage, RawFile


def group_files(session: Session, group_id: str) -> list[Path]:
    """Paths of a group's usable (not quarantined) subband files, by subband."""
    rows = session.scalars(
        sa.select(RawFile)
        .where(RawFile.group_id == group_id, RawFile.status != FileStatus.QUARANTINED)
        .order_by(RawFile.subband)
    ).all()
    if not rows:
        raise InputDataError(
            f"group {group_id} has no usable files in the products DB",
            hint="run `dsa110 index` first",
        )
    return [Path(r.path) for r in rows]


def run_conversion(
    factory: sessionmaker[Session], settings: Settings, group_id: str, *, overwrite: bool = False
) -> ConversionResult:
    """Convert an indexed group into ``<ms_dir>/<group_id>.ms`` and register it."""
    out = settings.ms_dir / f"{group_id}.ms"
    with session_scope(factory) as session:
        paths = group_files(session, group_id)
        job = repo.create_job(
            session,
            job_type="convert",
            group_id=group_id,
            params={"flag_autos": True, "overwrite": overwrite},
            inputs={
                str(p): {"size": p.stat().st_size, "mtime": p.stat().st_mtime}
                for p in paths
                if p.exists()
            },
            software_version=__version__,
        )
        repo.start_job(session, job.run_id, host=socket.gethostname())
        run_id = job.run_id
    try:
        settings.ms_dir.mkdir(parents=True, exist_ok=True)
        result = convert_group(paths, out, overwrite=overwrite)
    except Exception as exc:
        with session_scope(factory) as session:
            repo.finish_job(
                session, run_id, status=JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}"
            )
        raise
    with session_scope(factory) as session:
        repo.register_ms(
            session,
            path=result.ms_path,
            mjd_start=result.mjd_start,
            mjd_mid=result.mjd_mid,
            mjd_end=result.mjd_end,
            group_id=group_id,
            pointing_ra_deg=result.phase_ra_deg,
            pointing_dec_deg=result.pointing_dec_deg,
            phase_ra_deg=result.phase_ra_deg,
            phase_dec_deg=result.phase_dec_deg,
            field_name=f"meridian_{group_id}",
            n_rows=result.n_rows,
            n_channels=result.n_channels,
            stage=MSStage.CONVERTED,
            size_bytes=result.size_bytes,
            note=f"missing subbands {result.missing_subbands}" if result.missing_subbands else None,
        )
        session.execute(
            sa.update(RawFile)
            .where(RawFile.path.in_([str(p) for p in paths]))
            .values(status=FileStatus.CONVERTED, updated_at=dt.datetime.now(dt.UTC))
        )
        repo.finish_job(session, run_id, outputs=result.as_dict())
    return result
