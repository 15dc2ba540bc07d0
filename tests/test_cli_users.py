"""``dsa110 user``: add (prompt or stdin), list, disable, enable, passwd, role.

The prompt is driven through click's runner; ``--password-stdin`` through a
real ``dsa110`` process. What the commands store is checked by signing in
(``repo.authenticate``), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from dsa110_contimg.cli import main
from dsa110_contimg.products import make_engine, make_session_factory, upgrade
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import User


def _authenticates(url: str, name: str, password: str) -> bool:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            return repo.authenticate(session, name, password) is not None
    finally:
        engine.dispose()


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    upgrade(db_url)
    monkeypatch.setenv("DSA110_DB_URL", db_url)
    return CliRunner()


def test_add_list_passwd_disable(cli: CliRunner, db_url: str) -> None:
    added = cli.invoke(
        main,
        ["user", "add", "ada", "--role", "operator"],
        input="first password 1\nfirst password 1\n",
    )
    assert added.exit_code == 0, added.output
    assert "first password 1" not in added.output  # the prompt hides it
    assert _authenticates(db_url, "ada", "first password 1")

    mismatch = cli.invoke(
        main, ["user", "add", "bob", "--role", "reader"], input="aaaaaaaa1\nbbbbbbbb2\n" * 3
    )
    assert mismatch.exit_code != 0  # three mismatched confirmations: nothing added

    listed = cli.invoke(main, ["user", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [(r["name"], r["role"], r["disabled"]) for r in rows] == [("ada", "operator", False)]
    assert "argon2" not in listed.output and "password" not in listed.output

    changed = cli.invoke(main, ["user", "passwd", "ada"], input="second password 2\n" * 2)
    assert changed.exit_code == 0, changed.output
    assert not _authenticates(db_url, "ada", "first password 1")
    assert _authenticates(db_url, "ada", "second password 2")

    assert cli.invoke(main, ["user", "role", "ada", "admin"]).exit_code == 0
    assert cli.invoke(main, ["user", "disable", "ada"]).exit_code == 0
    assert not _authenticates(db_url, "ada", "second password 2")
    table = cli.invoke(main, ["user", "list"]).output
    assert "ada" in table and "admin" in table and "disabled" in table
    assert cli.invoke(main, ["user", "enable", "ada"]).exit_code == 0
    assert _authenticates(db_url, "ada", "second password 2")

    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        stored = session.query(User).one()
        assert stored.password_hash.startswith("$argon2id$")
        assert "second password 2" not in stored.password_hash
    engine.dispose()


def test_bad_input_is_a_clear_error(cli: CliRunner) -> None:
    ok = cli.invoke(main, ["user", "add", "ada", "--role", "reader"], input="long enough 1\n" * 2)
    assert ok.exit_code == 0
    duplicate = cli.invoke(main, ["user", "add", "ada", "--role", "reader"], input="x" * 9 + "\n")
    assert duplicate.exit_code == 8 and "exists already" in duplicate.output  # ConflictError
    bad_name = cli.invoke(main, ["user", "add", "no spaces", "--role", "reader"])
    assert bad_name.exit_code == 9 and "invalid user name" in bad_name.output
    short = cli.invoke(main, ["user", "add", "cy", "--role", "reader"], input="short\nshort\n")
    assert short.exit_code == 9 and "8 to 1024 characters" in short.output
    assert "short" not in short.output.split("characters")[-1]
    bad_role = cli.invoke(main, ["user", "add", "dee", "--role", "king"])
    assert bad_role.exit_code == 2
    unknown = cli.invoke(main, ["user", "disable", "nobody"])
    assert unknown.exit_code == 10 and "no user named" in unknown.output
    for result in (duplicate, bad_name, short, unknown):
        assert "Traceback" not in result.output


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_password_from_stdin_in_a_real_process(db_url: str) -> None:
    upgrade(db_url)
    env = {"DSA110_DB_URL": db_url, "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "dsa110_contimg.cli", "user"]
    done = subprocess.run(
        [*command, "add", "eve", "--role", "admin", "--password-stdin"],
        input="piped password 3\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "piped password 3" not in done.stdout + done.stderr
    assert _authenticates(db_url, "eve", "piped password 3")
    empty = subprocess.run(
        [*command, "passwd", "eve", "--password-stdin"],
        input="",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert empty.returncode == 2 and "no password on standard input" in empty.stderr
