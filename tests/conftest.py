"""Shared fixtures: isolated settings, SQLite and a real PostgreSQL server.

PostgreSQL: if ``DSA110_TEST_POSTGRES_URL`` names a server (an admin URL that
may CREATE DATABASE), it is used; otherwise each test session starts its own
throw-away server with ``initdb``/``pg_ctl`` in a temporary folder (as the
``postgres`` user when running as root). Without either, PostgreSQL tests are
skipped locally and fail under CI, where the server must be there.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

# Never let astropy reach for the network in tests.
os.environ.setdefault("ASTROPY_IERS_AUTO_DOWNLOAD", "0")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's DSA110_* settings; data goes to tmp_path."""
    for key in list(os.environ):
        if key.startswith("DSA110_") and key != "DSA110_TEST_POSTGRES_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("DSA110_DATA_ROOT", str(tmp_path / "data"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'products.sqlite3'}"


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """Admin URL of a running PostgreSQL server for this test session."""
    url = os.environ.get("DSA110_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL (initdb, pg_ctl) is not installed but CI requires it")
        pytest.skip("PostgreSQL server binaries not installed")
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    workdir = Path(tempfile.mkdtemp(prefix="dsa110-pg-"))
    if as_root:
        shutil.chown(workdir, "postgres", "postgres")
    datadir, port = workdir / "data", _free_port()
    subprocess.run(
        [*prefix, initdb, "-D", str(datadir), "-U", "dsa110", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [
            *prefix,
            pg_ctl,
            "-D",
            str(datadir),
            "-o",
            opts,
            "-l",
            str(workdir / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://dsa110@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(datadir), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(postgres_admin_url).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")
