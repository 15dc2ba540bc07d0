"""Create and migrate the products database with Alembic.

The migration scripts live in ``dsa110_contimg/products/migrations``; there is
no ``alembic.ini`` to keep in sync: the configuration is built here.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from dsa110_contimg.errors import DatabaseError
from dsa110_contimg.products.db import make_engine, normalise_url

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Alembic announces every step at INFO; our callers say what happened themselves.
logging.getLogger("alembic").setLevel(logging.WARNING)


def alembic_config(url: str) -> Config:
    """An Alembic configuration pointing at our migrations and ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at, or None if unversioned."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except sa.exc.OperationalError as exc:
        raise DatabaseError(f"cannot reach the products DB: {exc.orig}") from exc
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> str | None:
    """Create or migrate the database at ``url`` to ``revision``; return the new revision."""
    try:
        command.upgrade(alembic_config(url), revision)
    except sa.exc.OperationalError as exc:
        raise DatabaseError(f"cannot migrate the products DB: {exc.orig}") from exc
    return current_revision(url)


def downgrade(url: str, revision: str) -> str | None:
    """Migrate the database at ``url`` down to ``revision`` (``base`` drops everything)."""
    try:
        command.downgrade(alembic_config(url), revision)
    except sa.exc.OperationalError as exc:
        raise DatabaseError(f"cannot migrate the products DB: {exc.orig}") from exc
    return current_revision(url)


def require_current(url: str) -> None:
    """Raise a clear error unless the database is at the code's head revision."""
    current, head = current_revision(url), head_revision()
    if current != head:
        raise DatabaseError(
            f"products DB is at revision {current or 'none'}, the code expects {head}",
            hint="run `dsa110 db upgrade`",
        )
