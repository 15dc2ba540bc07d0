"""A products DB with simulated groups registered as the ingest stage would."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from astropy.time import Time

from dsa110_contimg.config import Settings, load_settings
from dsa110_contimg.products import make_engine, make_session_factory, session_scope, upgrade
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import GroupState, Photometry
from dsa110_contimg.simulate import preset_config, simulate


@pytest.fixture(scope="session")
def sim_two_groups(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("pipe-sim")
    truth = simulate(preset_config("test", n_epochs=1, targets_per_epoch=1, n_antennas=12), out)
    return out, truth


def register_sim_groups(factory, truth: dict, incoming: Path) -> list[str]:
    """Record the simulated files and groups as complete (what `dsa110 index` does)."""
    ids = []
    with session_scope(factory) as session:
        for group in truth["groups"]:
            start = Time(group["start_mjd"], format="mjd").to_datetime(timezone=dt.UTC)
            repo.register_group(
                session,
                group_id=group["group_id"],
                start_time=start,
                start_mjd=group["start_mjd"],
                files_present=16,
                state=GroupState.COMPLETE,
            )
            for sb, name in enumerate(group["files"]):
                path = incoming / name
                repo.register_raw_file(
                    session,
                    path=str(path),
                    subband=sb,
                    size_bytes=path.stat().st_size,
                    mtime=path.stat().st_mtime,
                    group_id=group["group_id"],
                )
            ids.append(group["group_id"])
    return ids


@pytest.fixture
def pipeline_env(tmp_path: Path, sim_two_groups):
    """Settings under tmp_path, an upgraded SQLite DB, the simulated groups registered."""
    out, truth = sim_two_groups
    settings: Settings = load_settings(data_root=tmp_path / "data")
    settings.ensure_folders()
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    factory = make_session_factory(engine)
    groups = register_sim_groups(factory, truth, out / "incoming")
    yield settings, factory, groups, truth
    engine.dispose()


def prepare_root(
    root: Path, sim_dir: Path, db_url: str | None = None, *, incoming: Path | None = None
) -> Settings:
    """A data root with its DB upgraded and ``sim_dir``'s catalog imported.

    Without ``incoming`` it reads ``sim_dir``'s incoming files, indexed here
    by the real ingest step (it reads each group's pointing declination, which
    the calibrator-first ordering needs); with it, that folder is left for the
    stream to index.
    """
    from dsa110_contimg.catalog.store import CatalogStore
    from dsa110_contimg.ingest import IngestPolicy, index_folder

    fields = {"db_url": db_url} if db_url else {}
    incoming_dir = incoming or sim_dir / "incoming"
    settings = load_settings(data_root=root, incoming_dir=incoming_dir, **fields)
    settings.ensure_folders()
    upgrade(settings.db_url)
    with CatalogStore(settings.catalog_db) as store:
        store.import_file("SIM", sim_dir / "catalog.csv")
    if incoming is not None:
        return settings
    engine = make_engine(settings.db_url)
    try:
        policy = IngestPolicy.from_settings(settings, settle_s=0.0)
        index_folder(settings, make_session_factory(engine), policy=policy)
    finally:
        engine.dispose()
    return settings


def n_transits(session, source_id: int) -> int:
    """Epochs of a source's light curve: its sightings of one transit count once."""
    from dsa110_contimg.variability.metrics import EPOCH_DAYS, transit_epochs

    mjd = np.asarray(
        session.scalars(sa.select(Photometry.mjd).where(Photometry.source_id == source_id)).all()
    )
    one = np.ones(mjd.size)
    return transit_epochs(np.zeros(mjd.size, int), mjd, one, one, EPOCH_DAYS)[0].size
