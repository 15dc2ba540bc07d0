"""Migrations up and down on SQLite and PostgreSQL, and agreement with the models."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from dsa110_contimg.products import current_revision, downgrade, head_revision, upgrade
from dsa110_contimg.products.db import make_engine
from dsa110_contimg.products.models import Base


def _tables(url: str) -> dict[str, set[str]]:
    engine = make_engine(url)
    try:
        insp = sa.inspect(engine)
        return {
            t: {c["name"] for c in insp.get_columns(t)}
            for t in insp.get_table_names()
            if t != "alembic_version"
        }
    finally:
        engine.dispose()


def test_upgrade_creates_every_model_table(db_url: str) -> None:
    assert upgrade(db_url) == head_revision()
    tables = _tables(db_url)
    assert set(tables) == set(Base.metadata.tables)
    for name, table in Base.metadata.tables.items():
        assert tables[name] == {c.name for c in table.columns}, name


def test_downgrade_to_base_and_up_again(db_url: str) -> None:
    upgrade(db_url)
    assert downgrade(db_url, "base") is None
    assert _tables(db_url) == {}
    assert upgrade(db_url) == head_revision()
    assert current_revision(db_url) == head_revision()


def test_migrations_match_models(db_url: str) -> None:
    """The migrations produce exactly the models' schema: no drift between the two."""
    upgrade(db_url)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == []


def test_sqlite_and_postgres_have_the_same_tables(sqlite_url: str, postgres_url: str) -> None:
    upgrade(sqlite_url)
    upgrade(postgres_url)
    assert _tables(sqlite_url) == _tables(postgres_url)


def test_sqlite_connection_settings(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    engine.dispose()
