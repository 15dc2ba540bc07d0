"""Fixtures of the API tests: a seeded products DB, apps and clients, a Redis server.

The DB is filled once per session (the pipeline's repositories write it, as
the pipeline will) into a template; tests that write get their own copy.
"""

from __future__ import annotations

import dataclasses
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))

from api_support import LOCAL, Seed, free_port, make_settings, seed  # noqa: E402

from dsa110_contimg.api import create_app  # noqa: E402


@pytest.fixture(scope="session")
def template_seed(tmp_path_factory: pytest.TempPathFactory) -> Seed:
    root = tmp_path_factory.mktemp("seed") / "data"
    return seed(root, f"sqlite:///{root / 'state' / 'products.sqlite3'}")


@pytest.fixture(scope="session")
def read_client(template_seed: Seed) -> Iterator[TestClient]:
    """A client of an app over the shared seeded DB; tests using it must not write."""
    app = create_app(make_settings(template_seed.root, template_seed.url))
    with TestClient(app, client=LOCAL) as client:
        yield client


@pytest.fixture
def writable_seed(template_seed: Seed, tmp_path: Path) -> Seed:
    """A private copy of the seeded DB for tests that write."""
    root = tmp_path / "data"
    shutil.copytree(template_seed.root, root)
    url = f"sqlite:///{root / 'state' / 'products.sqlite3'}"
    # The registered paths stay those of the template (the rows are copied as they are).
    return dataclasses.replace(template_seed, url=url)


@pytest.fixture
def client(writable_seed: Seed) -> Iterator[TestClient]:
    """A client of an app over a private seeded DB (writes allowed with ``API_KEY``)."""
    app = create_app(make_settings(writable_seed.root, writable_seed.url))
    with TestClient(app, client=LOCAL) as test_client:
        yield test_client


@pytest.fixture
def redis_server(require_tool) -> Iterator[dict[str, Any]]:
    """A throw-away redis-server on a free loopback port; ``stop()`` kills it early."""
    require_tool("redis")
    binary = shutil.which("redis-server")
    assert binary is not None
    workdir = tempfile.mkdtemp(prefix="dsa110-redis-")
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            workdir,
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("redis-server did not start")

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)

    try:
        yield {"url": f"redis://127.0.0.1:{port}/0", "stop": stop, "process": proc}
    finally:
        stop()
        shutil.rmtree(workdir, ignore_errors=True)
