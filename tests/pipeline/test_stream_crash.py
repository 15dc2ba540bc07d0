"""SIGKILL the stream daemon at random points; restarts end with every group done once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from dsa110_contimg.catalog.store import CatalogStore
from dsa110_contimg.config import load_settings
from dsa110_contimg.products import make_engine, make_session_factory, session_scope, upgrade
from dsa110_contimg.products.models import (
    GroupState,
    Image,
    Job,
    JobStatus,
    MeasurementSet,
    ObservationGroup,
    Photometry,
    RawFile,
)
from dsa110_contimg.simulate import preset_config, simulate


def _stream(root: Path) -> subprocess.Popen:
    env = {**os.environ, "DSA110_DATA_ROOT": str(root), "DSA110_LOG_LEVEL": "WARNING"}
    cmd = [
        sys.executable,
        "-m",
        "dsa110_contimg.cli",
        "stream",
        "--once",
        "--interval",
        "0.2",
        "--settle",
        "0",
    ]
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def test_sigkill_and_restart(tmp_path: Path) -> None:
    root = tmp_path / "root"
    truth = simulate(preset_config("test", n_epochs=2, targets_per_epoch=1, n_antennas=10), root)
    settings = load_settings(data_root=root)
    upgrade(settings.db_url)
    with CatalogStore(settings.catalog_db) as store:
        store.import_file("SIM", root / "catalog.csv")
    rng = np.random.default_rng(11)
    kills = 0
    for delay in rng.uniform(1.0, 6.0, 4):
        proc = _stream(root)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
    final = _stream(root)
    _, err = final.communicate(timeout=600)
    assert final.returncode == 0, err
    assert kills >= 2, f"only {kills} kills landed during runs"

    engine = make_engine(settings.db_url)
    factory = make_session_factory(engine)
    with session_scope(factory) as s:
        groups = s.scalars(sa.select(ObservationGroup)).all()
        assert sorted(g.id for g in groups) == sorted(g["group_id"] for g in truth["groups"])
        assert all(g.state is GroupState.DONE for g in groups), [
            (g.id, g.state, g.error) for g in groups
        ]
        ms = s.scalars(sa.select(MeasurementSet)).all()
        assert sorted(m.group_id for m in ms) == sorted(g.id for g in groups), [  # once each
            m.path for m in ms
        ]
        assert all(Path(m.path).exists() for m in ms)
        assert s.scalar(sa.select(sa.func.count()).select_from(RawFile)) == 16 * len(groups)
        unfinished = s.scalars(
            sa.select(Job).where(Job.status.in_([JobStatus.RUNNING, JobStatus.PENDING]))
        ).all()
        assert not unfinished, [(j.job_type, j.group_id, j.status) for j in unfinished]
    engine.dispose()
    assert not list(settings.ms_dir.glob(".*.tmp")), list(settings.ms_dir.iterdir())
    with session_scope(make_session_factory(make_engine(settings.db_url))) as s:
        # every group imaged and measured exactly once
        assert s.scalar(
            sa.select(sa.func.count(sa.distinct(Image.ms_id))).where(Image.image_type == "image-pb")
        ) == len(groups)
        assert s.scalar(
            sa.select(sa.func.count()).select_from(Image).where(Image.image_type == "image-pb")
        ) == len(groups)
        pairs = s.execute(sa.select(Photometry.source_id, Photometry.image_id)).all()
        assert pairs and len(pairs) == len(set(pairs))
