"""A test that needs a missing tool skips on a laptop and fails under CI.

Each case runs a small test file in a fresh pytest process with this suite's
``conftest.py``, a PATH that holds only what the case puts there and, for a
Python module, ``sys.modules[name] = None`` (what Python does for a module
that cannot be imported).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

INNER = """
import sys

import pytest

sys.modules["aoflagger"] = None  # as if not installed


@pytest.mark.requires("wsclean")
def test_marked():
    pass


@pytest.mark.requires("aoflagger")
def test_module_marked():
    pass


@pytest.fixture
def imager(require_tool):
    require_tool("wsclean")


def test_in_a_fixture(imager):
    pass


def test_typo_is_an_error(require_tool):
    require_tool("wsclaen")


def test_needs_nothing():
    pass
"""


def _run(tmp_path: Path, *, ci: str | None, programs: tuple[str, ...] = ()) -> str:
    """Run INNER with only ``programs`` on PATH and ``CI`` as given; return pytest's output."""
    work = tmp_path / "inner"
    bin_dir = tmp_path / "bin"
    work.mkdir()
    bin_dir.mkdir()
    shutil.copy(Path(__file__).with_name("conftest.py"), work / "conftest.py")
    (work / "test_inner.py").write_text(INNER)
    for name in programs:
        fake = bin_dir / name
        fake.write_text("#!/bin/sh\nexit 0\n")
        fake.chmod(0o755)
    # the outer run's CI, options and xdist worker identity stay out of the inner one
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "PYTEST_ADDOPTS"}}
    env = {k: v for k, v in env.items() if not k.startswith("PYTEST_XDIST")}
    env["PATH"] = str(bin_dir)
    if ci is not None:
        env["CI"] = ci
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-v",
            "-rA",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.stdout + result.stderr


def _outcomes(output: str) -> dict[str, str]:
    """Each inner test's outcome from pytest's verbose lines (``test_inner.py::name OUTCOME``)."""
    found = {}
    for line in output.splitlines():
        if line.startswith("test_inner.py::"):
            name, outcome = line.split()[:2]
            found[name.removeprefix("test_inner.py::")] = outcome
    return found


@pytest.mark.parametrize("ci", [None, "", "false"])
def test_missing_tool_skips_outside_ci(tmp_path: Path, ci: str | None) -> None:
    output = _run(tmp_path, ci=ci)
    assert _outcomes(output) == {
        "test_marked": "SKIPPED",
        "test_module_marked": "SKIPPED",
        "test_in_a_fixture": "SKIPPED",
        "test_typo_is_an_error": "FAILED",
        "test_needs_nothing": "PASSED",
    }, output
    assert "wsclean (wsclean) is not installed; apt-get install wsclean" in output
    assert "aoflagger (aoflagger) is not installed; pip install aoflagger" in output
    assert "KeyError: 'wsclaen'" in output


def test_missing_tool_fails_under_ci(tmp_path: Path) -> None:
    output = _run(tmp_path, ci="true")
    assert _outcomes(output) == {
        "test_marked": "ERROR",
        "test_module_marked": "ERROR",
        "test_in_a_fixture": "ERROR",
        "test_typo_is_an_error": "FAILED",
        "test_needs_nothing": "PASSED",
    }, output
    assert (
        "wsclean (wsclean) is not installed but CI requires it: apt-get install wsclean" in output
    )
    assert "aoflagger (aoflagger) is not installed but CI requires it" in output


def test_tool_on_path_runs_the_test_under_ci(tmp_path: Path) -> None:
    output = _run(tmp_path, ci="true", programs=("wsclean",))
    outcomes = _outcomes(output)
    assert outcomes["test_marked"] == "PASSED" and outcomes["test_in_a_fixture"] == "PASSED"
    assert outcomes["test_module_marked"] == "ERROR", output
