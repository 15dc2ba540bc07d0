"""Run CASA (casatools/casatasks) in a subprocess, offline, for cross-checks.

CASA is only used to check our products (tests, benchmarks). Each call
starts a fresh Python with a site config that forbids data and measures
updates and points ``measurespath`` at the data of the ``casadata`` pip
package, so nothing is downloaded and a crashing task cannot take the
caller down.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from dsa110_contimg.errors import ToolMissingError

_CASA_MODULES = ("casatools", "casatasks", "casadata", "six")  # casatasks 6.7 imports six


def casa_available() -> bool:
    """True if casatools, casatasks, casadata (and six, which casatasks needs) are installed."""
    return all(importlib.util.find_spec(m) for m in _CASA_MODULES)


def _measures_path() -> str:
    spec = importlib.util.find_spec("casadata")
    if spec is None or spec.origin is None:
        raise ToolMissingError("casadata is not installed", hint="pip install casadata")
    return str(Path(spec.origin).parent / "__data__")


def run_casa(script: str, *, timeout_s: float = 1800.0, workdir: str | Path | None = None) -> dict:
    """Run a Python snippet with CASA in a subprocess and return its result.

    Parameters
    ----------
    script : str
        Python code; it may assign a JSON-able dict to ``result``.
        ``casatools`` and ``casatasks`` are imported before it runs.
    timeout_s : float
        Seconds before the subprocess is killed.
    workdir : str or Path, optional
        Working directory (CASA writes logs and scratch files there).

    Returns
    -------
    dict
        The snippet's ``result``.

    Raises
    ------
    ToolMissingError
        If CASA is not installed.
    RuntimeError
        If the subprocess fails (its stderr is included).
    """
    if not casa_available():
        raise ToolMissingError("CASA (casatools, casatasks) is not installed")
    with tempfile.TemporaryDirectory(prefix="casa_") as tmp:
        config = Path(tmp) / "casasiteconfig.py"
        config.write_text(
            f"measurespath = {_measures_path()!r}\n"
            "measures_auto_update = False\n"
            "data_auto_update = False\n"
            "nologfile = True\n"
        )
        out = Path(tmp) / "result.json"
        body = (
            "import json\nimport casatools, casatasks\nresult = {}\n"
            + textwrap.dedent(script)
            + f"\nwith open({str(out)!r}, 'w') as fh:\n    json.dump(result, fh)\n"
        )
        env = dict(os.environ, CASASITECONFIG=str(config), OMP_NUM_THREADS="1")
        proc = subprocess.run(
            [sys.executable, "-c", body],
            cwd=str(workdir or tmp),
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(
                f"CASA subprocess failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
            )
        return json.loads(out.read_text())
