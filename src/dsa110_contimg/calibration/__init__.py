"""Calibration: sky model, our own gain solvers, CASA-format tables, selection and apply.

Pipeline entry points:

* :func:`write_model_ms` -- MODEL_DATA of a calibrator (and catalog sources).
* :func:`solve_ms` -- phase pre-solve, bandpass and gains on a calibrator MS
  (or gains only, against a fixed bandpass table).
* :func:`write_solutions` / :func:`read_caltable` -- CASA ``B Jones`` / ``G Jones`` tables.
* :func:`caltable_records` -- field values of the products DB's ``CalTable`` rows.
* :func:`select_tables` -- which registered tables are valid for an MS.
* :func:`apply_ms` -- CORRECTED_DATA from DATA and tables.

Convention everywhere: ``DATA_ij = g_i conj(g_j) MODEL_ij`` with ``i =
ANTENNA1``, as CASA's applycal assumes.

The names below are imported on first use, so that the products layer can
use the pure selection rule (:mod:`.select`) without loading the solvers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dsa110_contimg.calibration.apply import apply_ms, apply_solutions
    from dsa110_contimg.calibration.caltable import (
        read_caltable,
        table_path_for,
        write_caltable,
        write_solutions,
    )
    from dsa110_contimg.calibration.errors import CalibrationError, DeclinationMismatchError
    from dsa110_contimg.calibration.model import PointSource, predict_visibilities, write_model_ms
    from dsa110_contimg.calibration.msio import MSInfo, read_info
    from dsa110_contimg.calibration.records import caltable_records
    from dsa110_contimg.calibration.select import Selection, TableCandidate, select_tables
    from dsa110_contimg.calibration.solutions import JonesSolutions
    from dsa110_contimg.calibration.solve import (
        CalibrationSolution,
        SolveParams,
        solve_calibrator,
        solve_ms,
    )

_WHERE = {
    "apply_ms": "apply",
    "apply_solutions": "apply",
    "read_caltable": "caltable",
    "table_path_for": "caltable",
    "write_caltable": "caltable",
    "write_solutions": "caltable",
    "CalibrationError": "errors",
    "DeclinationMismatchError": "errors",
    "PointSource": "model",
    "predict_visibilities": "model",
    "write_model_ms": "model",
    "MSInfo": "msio",
    "read_info": "msio",
    "caltable_records": "records",
    "Selection": "select",
    "TableCandidate": "select",
    "select_tables": "select",
    "JonesSolutions": "solutions",
    "CalibrationSolution": "solve",
    "SolveParams": "solve",
    "solve_calibrator": "solve",
    "solve_ms": "solve",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "CalibrationError",
    "CalibrationSolution",
    "DeclinationMismatchError",
    "JonesSolutions",
    "MSInfo",
    "PointSource",
    "Selection",
    "SolveParams",
    "TableCandidate",
    "apply_ms",
    "apply_solutions",
    "caltable_records",
    "predict_visibilities",
    "read_caltable",
    "read_info",
    "select_tables",
    "solve_calibrator",
    "solve_ms",
    "table_path_for",
    "write_caltable",
    "write_model_ms",
    "write_solutions",
]
