"""Shared fixtures: isolated settings, SQLite and a real PostgreSQL server.

PostgreSQL: if ``DSA110_TEST_POSTGRES_URL`` names a server (an admin URL that
may CREATE DATABASE), it is used; otherwise each test session starts its own
throw-away server with ``initdb``/``pg_ctl`` in a temporary folder (as the
``postgres`` user when running as root).

External tools (WSClean, AOFlagger, CASA, PostgreSQL, ...): a test that needs
one says so with ``@pytest.mark.requires("wsclean")`` (a fixture calls the
``require_tool`` fixture instead). A missing tool skips the test on a
developer's machine but fails it under CI (``CI`` set, as ``.ci/run`` runs),
where ``scripts/setup.sh --test`` must have installed everything; a CI run
that skipped WSClean quietly would pass without ever imaging.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import pytest
import sqlalchemy as sa

# Never let astropy reach for the network in tests.
os.environ.setdefault("ASTROPY_IERS_AUTO_DOWNLOAD", "0")


@dataclass(frozen=True)
class Tool:
    """An external tool some tests need: programs on PATH and/or Python modules."""

    programs: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    install: str = ""
    #: a glob of folders searched after PATH (Debian keeps PostgreSQL's server off PATH)
    also_in: str = ""

    def missing(self) -> list[str]:
        """The programs and modules of this tool that cannot be found."""
        lost = [p for p in self.programs if _find_program(p, self.also_in) is None]
        return lost + [m for m in self.modules if find_spec(m) is None]


def _find_program(name: str, also_in: str = "") -> str | None:
    found = shutil.which(name)
    if found or not also_in:
        return found
    candidates = sorted(glob.glob(os.path.join(also_in, name)))
    return candidates[-1] if candidates else None


#: Everything ``scripts/setup.sh --test`` installs that a test may need.
TOOLS: dict[str, Tool] = {
    "wsclean": Tool(programs=("wsclean",), install="apt-get install wsclean"),
    "aoflagger": Tool(modules=("aoflagger",), install="pip install aoflagger"),
    "casa": Tool(
        modules=("casatools", "casatasks", "casadata", "six"),
        install="pip install 'dsa110-contimg[casa]'",
    ),
    "bdsf": Tool(modules=("bdsf",), install="pip install bdsf"),
    "postgresql": Tool(
        programs=("initdb", "pg_ctl"),
        install="apt-get install postgresql",
        also_in="/usr/lib/postgresql/*/bin",
    ),
    "promtool": Tool(programs=("promtool",), install="apt-get install prometheus"),
    "redis": Tool(programs=("redis-server",), install="apt-get install redis-server"),
    "chromium": Tool(programs=("chromium",), install="apt-get install chromium"),
    "systemd-analyze": Tool(programs=("systemd-analyze",), install="apt-get install systemd"),
}


def under_ci() -> bool:
    """Whether this run is CI's (``CI`` set to anything but empty/0/false)."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def require_tool(name: str) -> None:
    """Skip the current test if tool ``name`` (a key of :data:`TOOLS`) is missing; under CI, fail.

    Raises
    ------
    KeyError
        If ``name`` is not in :data:`TOOLS` (a typo must not skip a test).
    """
    tool = TOOLS[name]
    lost = tool.missing()
    if not lost:
        return
    what = f"{name} ({', '.join(lost)}) is not installed"
    if under_ci():
        pytest.fail(
            f"{what} but CI requires it: {tool.install} (scripts/setup.sh --test installs it)",
            pytrace=False,
        )
    pytest.skip(f"{what}; {tool.install}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requires(*tools): needs these external tools (keys of conftest.TOOLS); "
        "skipped without them, failed under CI",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("requires"):
        for name in mark.args:
            require_tool(name)


@pytest.fixture(scope="session", name="require_tool")
def require_tool_fixture() -> Callable[[str], None]:
    """:func:`require_tool`, for fixtures that need a tool (``require_tool("wsclean")``)."""
    return require_tool


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
    require_tool("postgresql")
    pg = TOOLS["postgresql"]
    initdb, pg_ctl = (_find_program(name, pg.also_in) for name in pg.programs)
    assert initdb and pg_ctl
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
