"""What the products DB records about calibration tables: plain dicts for ``CalTable``.

The runner turns these into ``products.models.CalTable`` rows (one per
table) and ``CalApplication`` rows; nothing here touches the database.
Validity windows are centred on the solve's mid time: a bandpass serves
+-12 h (24 h), gains +-30 min (1 h), unless told otherwise.
"""

from __future__ import annotations

from pathlib import Path

from dsa110_contimg.calibration.msio import MSInfo
from dsa110_contimg.calibration.select import BANDPASS_VALIDITY_DAYS, GAIN_VALIDITY_DAYS
from dsa110_contimg.calibration.solve import SOLVER_NAME, SOLVER_VERSION, CalibrationSolution

_TYPES = {"bandpass": ("bandpass", BANDPASS_VALIDITY_DAYS), "gain": ("gain", GAIN_VALIDITY_DAYS)}


def caltable_records(
    solution: CalibrationSolution,
    paths: dict[str, Path],
    info: MSInfo,
    calibrator: str | None,
    *,
    set_name: str | None = None,
    validity_days: dict[str, float] | None = None,
) -> list[dict]:
    """Field values of the ``CalTable`` rows for the tables of one solve.

    Parameters
    ----------
    solution : CalibrationSolution
        The solve.
    paths : dict
        ``{"bandpass": path, "gain": path}`` from
        :func:`~.caltable.write_solutions` (either may be absent).
    info : MSInfo
        The MS solved on (time, declination, path).
    calibrator : str or None
        Calibrator name (``None`` for a catalog-model gain solve).
    set_name : str, optional
        Groups the tables of one solve (default: the MS name).
    validity_days : dict, optional
        Validity length per type, days (defaults 1 and 1/24).

    Returns
    -------
    list of dict
        Keys: path, table_type, set_name, calibrator, refant,
        valid_start_mjd, valid_end_mjd, dec_deg, status, source_ms_path,
        solver, solver_version, solver_params, qa_metrics.
    """
    validity = {k: v[1] for k, v in _TYPES.items()} | (validity_days or {})
    sols = {"bandpass": solution.bandpass, "gain": solution.gain}
    out = []
    for key, path in paths.items():
        sol = sols[key]
        half = 0.5 * validity[key]
        meta = dict(sol.meta)
        out.append(
            {
                "path": str(Path(path).resolve()),
                "table_type": _TYPES[key][0],
                "set_name": set_name or Path(info.path).name,
                "calibrator": calibrator,
                "refant": None if solution.refant_pad is None else str(solution.refant_pad),
                "valid_start_mjd": info.mid_mjd - half,
                "valid_end_mjd": info.mid_mjd + half,
                "dec_deg": info.dec_deg,
                "status": "valid",
                "source_ms_path": str(Path(info.path).resolve()),
                "solver": SOLVER_NAME,
                "solver_version": SOLVER_VERSION,
                "solver_params": meta.get("params", {}),
                "qa_metrics": {**meta.get("qa", {}), "flag_fraction": sol.flag_fraction},
            }
        )
    return out
