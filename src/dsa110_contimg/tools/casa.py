"""Run CASA tasks offline, each in its own process.

CASA (``casatools``/``casatasks``, an optional extra: ``pip install
.[casa]``) is used only to cross-check our products. Offline it must not try
to update its measures or data, so every run gets a site config pointing
``measurespath`` at the data shipped by the ``casadata`` package, and runs in
a fresh Python process (CASA's global state does not survive well between
tasks in one process).
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
from dsa110_contimg.tools.process import run_child


def casa_available() -> bool:
    """Whether casatools, casatasks and casadata are importable."""
    return all(
        importlib.util.find_spec(m) is not None for m in ("casatools", "casatasks", "casadata")
    )


def _measures_path() -> str:
    spec = importlib.util.find_spec("casadata")
    if spec is None or spec.origin is None:
        raise ToolMissingError(
            "casadata is not installed", hint="pip install 'dsa110-contimg[casa]'"
        )
    return str(Path(spec.origin).parent / "__data__")


def write_site_config(folder: Path) -> Path:
    """An offline CASA site config in ``folder``; returns its path."""
    path = Path(folder) / "casasiteconfig.py"
    path.write_text(
        f"measurespath = {_measures_path()!r}\n"
        "measures_auto_update = False\n"
        "data_auto_update = False\n"
        "nologfile = False\n"
    )
    return path


def run_casa(
    code: str, *, workdir: str | Path | None = None, timeout: float = 900.0
) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` that uses CASA in a new process; raise on failure.

    The code runs with the working directory ``workdir`` (CASA writes its log
    there; a temporary folder by default).

    Raises
    ------
    ToolMissingError
        If CASA is not installed.
    subprocess.CalledProcessError
        If the code fails (its output is attached).
    """
    if not casa_available():
        raise ToolMissingError("CASA is not installed", hint="pip install 'dsa110-contimg[casa]'")
    with tempfile.TemporaryDirectory(prefix="dsa110-casa-") as tmp:
        env = {
            **os.environ,
            "CASASITECONFIG": str(write_site_config(Path(tmp))),
            "OMP_NUM_THREADS": "1",
        }
        done = run_child(
            [sys.executable, "-c", code],
            cwd=workdir or tmp,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            timeout=timeout,
        )
        done.check_returncode()
        return done


def run_casa_result(
    script: str, *, timeout_s: float = 1800.0, workdir: str | Path | None = None
) -> dict:
    """Run a CASA snippet that assigns a JSON-able dict to ``result``; return it.

    ``casatools`` and ``casatasks`` are imported before the snippet runs.

    Raises
    ------
    ToolMissingError
        If CASA is not installed.
    RuntimeError
        If the subprocess fails (its stderr is included).
    """
    with tempfile.TemporaryDirectory(prefix="dsa110-casa-result-") as tmp:
        out = Path(tmp) / "result.json"
        body = (
            "import json\nimport casatools, casatasks\nresult = {}\n"
            + textwrap.dedent(script)
            + f"\nwith open({str(out)!r}, 'w') as fh:\n    json.dump(result, fh)\n"
        )
        try:
            run_casa(body, workdir=workdir or tmp, timeout=timeout_s)
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                f"CASA subprocess failed ({exc.returncode}):\n{exc.stderr[-4000:]}"
            ) from exc
        if not out.exists():
            raise RuntimeError("CASA subprocess wrote no result")
        return json.loads(out.read_text())
