"""The dsa110 command line, run in a real subprocess-free CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from dsa110_contimg.cli import main
from dsa110_contimg.products import head_revision


def test_help_lists_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("config", "db"):
        assert command in result.output


def test_config_show_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSA110_API_KEYS", "a-very-secret-api-key")
    result = CliRunner().invoke(main, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["api_keys"] == ["***"]
    assert "a-very-secret-api-key" not in result.output


def test_config_file_option(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("workers = 7\n")
    result = CliRunner().invoke(main, ["--config", str(cfg), "config", "show"])
    assert result.exit_code == 0, result.output
    assert "workers = 7" in result.output


def test_bad_config_exits_with_a_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "nope.toml"), "config", "show"])
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert "Traceback" not in result.output


def test_db_upgrade_current_downgrade(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSA110_DB_URL", db_url)
    runner = CliRunner()
    result = runner.invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert head_revision() in result.output
    result = runner.invoke(main, ["db", "current"])
    assert f"database: {head_revision()}" in result.output
    engine = sa.create_engine(db_url)
    assert "photometry" in sa.inspect(engine).get_table_names()
    engine.dispose()
    assert runner.invoke(main, ["db", "downgrade", "base"]).exit_code == 0


def test_unreachable_db_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSA110_DB_URL", "postgresql://u:pw@127.0.0.1:1/none")
    result = CliRunner().invoke(main, ["db", "current"])
    assert result.exit_code == 3
    assert "cannot reach the products DB" in result.output


def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_all_subclasses(sub)]
    return found


def test_every_error_class_has_its_own_exit_code() -> None:
    """Two errors may share an exit code only when one is a kind of the other (inherits it)."""
    import importlib
    import pkgutil

    import dsa110_contimg
    from dsa110_contimg.errors import DSA110Error

    for module in pkgutil.walk_packages(dsa110_contimg.__path__, "dsa110_contimg."):
        if not module.name.endswith("__main__") and ".migrations" not in module.name:
            importlib.import_module(module.name)
    classes = [DSA110Error, *_all_subclasses(DSA110Error)]
    own = {c: c.__dict__["exit_code"] for c in classes if "exit_code" in c.__dict__}
    assert len(classes) >= 12, classes  # the walk found the errors outside errors.py
    by_code: dict[int, list[str]] = {}
    for cls, code in own.items():
        by_code.setdefault(code, []).append(cls.__qualname__)
    assert {code: names for code, names in by_code.items() if len(names) > 1} == {}
    for cls in classes:  # the others inherit a code, none is left at the generic 1 by accident
        assert cls in own or issubclass(cls, tuple(c for c in own if c is not DSA110Error))
    assert sorted(own.values()) == list(range(1, len(own) + 1))  # the table has no gaps
