"""The products database: models, engines and migrations."""

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
