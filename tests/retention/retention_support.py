"""A products DB and data folders with one case of every retention rule, made with real files.

Groups (each with 2 raw subband files of 4096 bytes in incoming):

``old``     done; its MS verified on disk, calibrated and imaged 10 days ago;
            images of every type, a finished job's log 100 days old.
``unver``   done, but its MS folder has no table (not verified): raw kept.
``queued``  queued again (in the pipeline): its raw files and MS kept.
``batch``   like ``old``, but a pending API reprocess batch names it: kept.

Calibration tables (old): ``valid`` (valid), ``needed`` (expired, but its
validity covers an MS waiting for calibration), ``retired`` (superseded,
covering nothing). Events: 3 old notices, 4 old heartbeats, 1 new one of each.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsa110_contimg.config import Settings, load_settings
from dsa110_contimg.products import make_engine, make_session_factory, session_scope, upgrade
from dsa110_contimg.products.models import (
    BatchItem,
    CalTable,
    CalTableStatus,
    Event,
    GroupState,
    Image,
    Job,
    JobStatus,
    MeasurementSet,
    MSStage,
    ObservationGroup,
    RawFile,
    utcnow,
)

RAW_BYTES = 4096
MS_BYTES = 20_000
IMAGE_BYTES = 8192


@dataclass
class World:
    settings: Settings
    factory: Any
    paths: dict[str, Path]
    ids: dict[str, int]


def _file(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    return path


def _ms_folder(path: Path, verified: bool) -> Path:
    path.mkdir(parents=True)
    _file(path / "table.f0", MS_BYTES)
    if verified:
        _file(path / "table.dat", 0)
    return path


def build_world(root: Path, db_url: str | None = None, **overrides: Any) -> World:
    """The DB and folders described in the module docstring, under ``root``."""
    fields = {"db_url": db_url} if db_url else {}
    settings = load_settings(data_root=root, **fields, **overrides)
    settings.ensure_folders()
    upgrade(settings.db_url)
    factory = make_session_factory(make_engine(settings.db_url))
    old = utcnow() - dt.timedelta(days=10)
    ancient = utcnow() - dt.timedelta(days=100)
    paths: dict[str, Path] = {}
    ids: dict[str, int] = {}
    with session_scope(factory) as session:
        for n, (name, state) in enumerate(
            [
                ("old", GroupState.DONE),
                ("unver", GroupState.DONE),
                ("queued", GroupState.QUEUED),
                ("batch", GroupState.DONE),
            ]
        ):
            mjd = 61000.0 + n
            group = ObservationGroup(
                id=name, start_time=old, start_mjd=mjd, state=state, files_present=2
            )
            session.add(group)
            for sb in range(2):
                path = _file(settings.incoming_dir / f"{name}_sb{sb:02d}.hdf5", RAW_BYTES)
                paths[f"raw_{name}_{sb}"] = path
                session.add(
                    RawFile(
                        path=str(path),
                        group_id=name,
                        subband=sb,
                        size_bytes=RAW_BYTES,
                        mtime=0.0,
                        status="converted",
                    )
                )
            ms_path = _ms_folder(settings.ms_dir / f"{name}.ms", verified=name != "unver")
            paths[f"ms_{name}"] = ms_path
            ms = MeasurementSet(
                path=str(ms_path),
                group_id=name,
                mjd_start=mjd,
                mjd_mid=mjd + 0.001,
                mjd_end=mjd + 0.002,
                stage=MSStage.IMAGED,
                cal_applied=True,
                created_at=old,
            )
            session.add(ms)
            session.flush()
            ids[f"ms_{name}"] = ms.id
            for kind in ("image-pb", "image", "beam", "residual", "model", "psf", "dirty"):
                path = _file(settings.images_dir / f"{name}-{kind}.fits", IMAGE_BYTES)
                paths[f"{kind}_{name}"] = path
                image = Image(
                    path=str(path),
                    ms_id=ms.id,
                    image_type=kind,
                    mjd_obs=mjd,
                    ra_deg=10.0,
                    dec_deg=20.0,
                    size_x=16,
                    size_y=16,
                    cell_arcsec=6.0,
                    pbcor=kind == "image-pb",
                    created_at=old,
                )
                session.add(image)
                session.flush()
                ids[f"{kind}_{name}"] = image.id
        # an MS waiting for calibration (its group failed; no raw files)
        waiting = MeasurementSet(
            path=str(_ms_folder(settings.ms_dir / "waiting.ms", verified=True)),
            mjd_start=61010.0,
            mjd_mid=61010.001,
            mjd_end=61010.002,
            stage=MSStage.WAITING_CAL,
            created_at=old,
        )
        session.add(waiting)
        for name, status, start, end in (
            ("valid", CalTableStatus.VALID, 60990.0, 60991.0),
            ("needed", CalTableStatus.EXPIRED, 61009.5, 61010.5),
            ("retired", CalTableStatus.SUPERSEDED, 60980.0, 60981.0),
        ):
            path = settings.caltables_dir / f"{name}.bcal"
            _file(path / "table.dat", 100)
            paths[f"cal_{name}"] = path
            table = CalTable(
                path=str(path),
                table_type="bandpass",
                set_name=name,
                valid_start_mjd=start,
                valid_end_mjd=end,
                status=status,
                created_at=old,
            )
            session.add(table)
            session.flush()
            ids[f"cal_{name}"] = table.id
        log = _file(settings.logs_dir / "job-old.log", 1000)
        paths["log_old"] = log
        job = Job(
            run_id="convert-old",
            job_type="convert",
            status=JobStatus.SUCCEEDED,
            group_id="old",
            created_at=ancient,
            finished_at=ancient,
            log_path=str(log),
        )
        session.add(job)
        session.flush()
        ids["job_old"] = job.id
        batch = Job(run_id="reprocess-batch", job_type="reprocess", status=JobStatus.PENDING)
        session.add(batch)
        session.flush()
        session.add(BatchItem(batch_id=batch.id, position=0, item_type="group", item_key="batch"))
        for _ in range(3):
            session.add(Event(topic="image", kind="new", created_at=ancient))
        for _ in range(4):
            session.add(Event(topic="worker", kind="heartbeat", created_at=ancient))
        session.add(Event(topic="image", kind="new"))
        session.add(Event(topic="worker", kind="heartbeat"))
    return World(settings, factory, paths, ids)
