"""Fixtures of the storage-lifecycle tests: the world of retention_support.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "api"))

from retention_support import World, build_world  # noqa: E402


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> World:
    """The world of retention_support on SQLite and on PostgreSQL (``db_url``)."""
    return build_world(tmp_path / "data", db_url, retention_caltable_days=5.0)
