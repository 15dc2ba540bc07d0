"""The products database: the schema, engines, migrations, every read and write, backups.

Layout
------
``models``
    The schema (SQLAlchemy models), its one source of truth with the migrations.
``db``
    Engines and sessions (:func:`make_engine`, :func:`session_scope`).
``migrate``, ``migrations/``
    Alembic: upgrade, downgrade, the revision a DB is at.
``repositories/``
    Every statement on the products DB, one module per aggregate (groups,
    MS, cal tables, images, mosaics, sources, variability, jobs, events,
    reprocessing, retention, ...), imported as ``repo``; lists filtered,
    sorted and paged by one helper (``repositories.query``). No other
    module issues a statement on this DB (the catalog store,
    :mod:`dsa110_contimg.catalog.store`, is a separate SQLite file).
``backup``
    ``dsa110 db backup | restore``: consistent copies while the pipeline runs.
"""

from dsa110_contimg.products.db import make_engine, make_session_factory, session_scope
from dsa110_contimg.products.migrate import current_revision, downgrade, head_revision, upgrade

__all__ = [
    "current_revision",
    "downgrade",
    "head_revision",
    "make_engine",
    "make_session_factory",
    "session_scope",
    "upgrade",
]
