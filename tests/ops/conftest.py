"""Fixtures of the ops tests (deploy/): the real API in uvicorn over a pipeline-filled DB.

The DB is filled by the API tests' ``seed`` (tests/api/api_support.py), the
way the pipeline's repositories write it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "api"))
sys.path.insert(0, str(Path(__file__).parent))

from api_support import LiveServer, make_settings, seed  # noqa: E402

from dsa110_contimg.api import create_app  # noqa: E402


@pytest.fixture(scope="session")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``create_app`` in a real uvicorn on a free loopback port, over a seeded DB."""
    root = tmp_path_factory.mktemp("ops") / "data"
    seeded = seed(root, f"sqlite:///{root / 'state' / 'products.sqlite3'}")
    with LiveServer(create_app(make_settings(seeded.root, seeded.url))) as server:
        yield server
