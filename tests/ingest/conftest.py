"""Simulated subband streams, a products DB and a fake clock for the ingest tests."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.config import Settings, load_settings
from dsa110_contimg.ingest import Indexer, IngestPolicy
from dsa110_contimg.products import make_engine, make_session_factory, session_scope, upgrade
from dsa110_contimg.products.models import ObservationGroup, RawFile
from dsa110_contimg.simulate import preset_config, simulate
from dsa110_contimg.simulate.config import StreamEffects

#: group 3 of the stream is damaged: sb05 never written, sb07 truncated, sb09 garbage
DAMAGE = StreamEffects(
    arrival_jitter_s=40.0, missing_subband=(3, 5), truncated_file=(3, 7), corrupt_file=(3, 9)
)


@pytest.fixture(scope="session")
def sim_stream(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Four ``test``-preset groups (two epochs), the last one damaged; made once per worker."""
    out = tmp_path_factory.mktemp("ingest-sim")
    cfg = preset_config("test", n_antennas=12, n_epochs=2, targets_per_epoch=1, stream=DAMAGE)
    truth = simulate(cfg, out)
    return out / "incoming", truth


class FakeClock:
    """A clock that moves only when told; starts at the real time."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class IngestEnv:
    """Settings under a tmp folder, an upgraded products DB and a fake clock."""

    settings: Settings
    factory: sessionmaker[Session]
    clock: FakeClock

    @property
    def incoming(self) -> Path:
        return self.settings.incoming_dir

    @property
    def quarantine(self) -> Path:
        return self.settings.quarantine_dir

    def indexer(self, **policy: object) -> Indexer:
        return Indexer(self.settings, self.factory, policy=IngestPolicy(**policy), clock=self.clock)

    def copy_in(self, source: Path, names: list[str] | None = None) -> list[Path]:
        """Copy files (all of ``source``'s, or ``names``) into incoming, keeping mtimes."""
        names = names if names is not None else sorted(p.name for p in source.iterdir())
        out = []
        for name in names:
            out.append(Path(shutil.copy2(source / name, self.incoming / name)))
        return out

    def groups(self) -> dict[str, ObservationGroup]:
        with session_scope(self.factory) as session:
            return {g.id: g for g in session.scalars(sa.select(ObservationGroup))}

    def files(self) -> list[RawFile]:
        with session_scope(self.factory) as session:
            return list(session.scalars(sa.select(RawFile).order_by(RawFile.path)))


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> Iterator[IngestEnv]:
    """The ingest's world on SQLite and on PostgreSQL."""
    yield from _env(tmp_path, db_url)


@pytest.fixture
def lite(tmp_path: Path, sqlite_url: str) -> Iterator[IngestEnv]:
    """The ingest's world on SQLite only."""
    yield from _env(tmp_path, sqlite_url)


def _env(tmp_path: Path, url: str) -> Iterator[IngestEnv]:
    settings = load_settings(data_root=tmp_path / "data", db_url=url)
    settings.ensure_folders()
    upgrade(url)
    engine = make_engine(url)
    try:
        yield IngestEnv(settings, make_session_factory(engine), FakeClock())
    finally:
        engine.dispose()
